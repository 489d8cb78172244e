// Public API of the diffit package.
export { defineSpec } from "./compiler/define-spec.ts";
export type { ParsedSpec, SpecFileInput, SpecInput } from "./compiler/schema/spec.ts";
