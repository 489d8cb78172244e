// The entry point of TypeScript specs. Specs are read statically (never executed), so this
// function only exists for its type: it checks the literal against the schema's input type.
import type { SpecFileInput } from "./schema/spec.ts";

export function defineSpec<const T extends SpecFileInput>(spec: T): T {
  return spec;
}
