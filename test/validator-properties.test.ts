// Property: whatever a user does to a valid spec, the validator returns either a resolved
// spec or structured errors, never throws; and a spec it accepts always builds a verified IR
// (so every shape problem is caught by the semantic checks, not by a crash later).
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildGraph } from "../src/compiler/ir/build.ts";
import { verifyGraph } from "../src/compiler/ir/verify.ts";
import { validateInstance } from "../src/compiler/pipeline.ts";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const bases: Json[] = ["tiny-fmnist", "diffit-cifar10", "diffit-ffhq64", "latent-diffit-imagenet256"].map(
  (n) => {
    const v = JSON.parse(readFileSync(`specs/${n}.json`, "utf8")) as { [k: string]: Json };
    delete v.$schema;
    // Keep the latent model small so that building its IR stays cheap.
    if (v.family === "latent") Object.assign(v, { depth: 2, hidden: 64, heads: 4 });
    return v;
  },
);

/** Every path to a node of the value (objects, arrays and leaves). */
function paths(v: Json, at: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [at];
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) out.push(...paths(x, [...at, i]));
  } else if (v !== null && typeof v === "object")
    for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}

type Mutation =
  | { kind: "set"; pick: number; value: Json }
  | { kind: "delete"; pick: number }
  | { kind: "add-key"; pick: number; key: string; value: Json }
  | { kind: "small-int"; pick: number; value: number };

function apply(root: Json, m: Mutation): Json {
  const all = paths(root);
  const path = all[m.pick % all.length] ?? [];
  if (path.length === 0) return m.kind === "set" ? m.value : root;
  const parentPath = path.slice(0, -1);
  let parent: Json = root;
  for (const seg of parentPath) parent = (parent as Record<string | number, Json>)[seg] ?? null;
  const key = path[path.length - 1] as string | number;
  const container = parent as Record<string | number, Json>;
  if (m.kind === "set") container[key] = m.value;
  else if (m.kind === "small-int") container[key] = m.value;
  else if (m.kind === "delete") {
    if (Array.isArray(parent) && typeof key === "number") parent.splice(key, 1);
    else delete container[key];
  } else {
    const target = container[key];
    if (target !== null && typeof target === "object" && !Array.isArray(target)) target[m.key] = m.value;
  }
  return root;
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant("set" as const),
    pick: fc.nat(),
    value: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  }),
  fc.record({ kind: fc.constant("delete" as const), pick: fc.nat() }),
  fc.record({
    kind: fc.constant("add-key" as const),
    pick: fc.nat(),
    key: fc.string({ maxLength: 12 }),
    value: fc.jsonValue({ maxDepth: 1 }) as fc.Arbitrary<Json>,
  }),
  // Plausible numbers find gaps between the semantic checks and the IR's shape rules.
  fc.record({
    kind: fc.constant("small-int" as const),
    pick: fc.nat(),
    value: fc.integer({ min: -2, max: 70 }),
  }),
);

describe("validator properties", () => {
  it("returns a resolved spec or structured errors for mutated specs, and accepted specs build a verified IR", () => {
    fc.assert(
      fc.property(
        fc.nat(bases.length - 1),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (which, ms) => {
          let v = structuredClone(bases[which] ?? null);
          for (const m of ms) v = apply(v, m);
          const r = validateInstance(v);
          const errors = r.diagnostics.filter((d) => d.severity === "error");
          if (r.spec) {
            expect(errors).toEqual([]);
            expect(verifyGraph(buildGraph(r.spec))).toEqual([]);
          } else {
            expect(errors.length).toBeGreaterThan(0);
            for (const d of errors) {
              expect(typeof d.message).toBe("string");
              expect(Array.isArray(d.path)).toBe(true);
            }
          }
        },
      ),
      { numRuns: 400, seed: 20261127 },
    );
  });
});
