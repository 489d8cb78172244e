// Specs written in a test, validated as `diffit` validates a file's spec (an invalid one throws).
import { type ResolvedEntry, specHash, validateInstance } from "../../src/compiler/pipeline.ts";
import type { ResolvedSpec } from "../../src/compiler/resolve-defaults.ts";

export function specOf(value: unknown): ResolvedSpec {
  const r = validateInstance(value);
  if (!r.spec) throw new Error(JSON.stringify(r.diagnostics.map((d) => d.message)));
  return r.spec;
}

/** The spec as a resolved entry (what the trainers and exporters take). */
export function entryOf(value: Record<string, unknown>): ResolvedEntry {
  const spec = specOf(value);
  return { name: spec.name, file: "test", spec, hash: specHash(spec), diagnostics: [] };
}
