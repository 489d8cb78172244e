// Property: whatever a user does to a valid spec, the validator returns either a resolved
// spec or structured errors, never throws; and a spec it accepts always builds a verified IR
// (so every shape problem is caught by the semantic checks, not by a crash later).
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { expandVariants } from "../src/compiler/compose.ts";
import { formatDiagnostic } from "../src/compiler/diagnostics.ts";
import { buildGraph } from "../src/compiler/ir/build.ts";
import { verifyGraph } from "../src/compiler/ir/verify.ts";
import { validateInstance } from "../src/compiler/pipeline.ts";
import { builtinsSnapshot, changedBuiltins } from "./helpers/builtins.ts";

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

// Hostile keys, names and sizes: whatever a spec contains, the front end answers with
// diagnostics, never throws, and never changes a built-in prototype.
const RESERVED = ["__proto__", "constructor", "prototype"];
const hostileKey = fc.oneof(
  fc.constantFrom(
    ...RESERVED,
    "toString",
    "valueOf",
    "hasOwnProperty",
    "__defineGetter__",
    "",
    " ",
    "a.b",
    "[0]",
  ),
  fc.string({ maxLength: 12 }),
);
const hostileName = fc.oneof(
  fc.constantFrom("", "__proto__", "constructor", "../../etc/passwd", "a\u0000b", "🦄", "x".repeat(10_000)),
  fc.string({ maxLength: 40 }),
  fc.jsonValue({ maxDepth: 1 }),
);
/** Numbers at and past the edges: zero, negative, fractional, huge, non-finite, unsafe. */
const extremeNumber = fc.oneof(
  fc.constantFrom(0, -0, -1, 0.5, 1e300, -1e300, Infinity, -Infinity, Number.NaN, 2 ** 53 + 2, 1e-320),
  fc.double(),
);
/** A value nested `n` levels deep (arrays or objects), past the nesting limit for large n. */
const nested = fc.tuple(fc.integer({ min: 1, max: 200 }), fc.boolean()).map(([n, arrays]) => {
  let v: Json = 1;
  for (let i = 0; i < n; i++) v = arrays ? [v] : { a: v };
  return v;
});

type Hostile =
  | { kind: "key"; pick: number; key: string; value: Json }
  | { kind: "name"; value: Json }
  | { kind: "number"; pick: number; value: number }
  | { kind: "deep"; pick: number; value: Json }
  | { kind: "wide"; pick: number; length: number };

const hostile: fc.Arbitrary<Hostile> = fc.oneof(
  fc.record({
    kind: fc.constant("key" as const),
    pick: fc.nat(),
    key: hostileKey,
    value: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  }),
  fc.record({ kind: fc.constant("name" as const), value: hostileName as fc.Arbitrary<Json> }),
  fc.record({ kind: fc.constant("number" as const), pick: fc.nat(), value: extremeNumber }),
  fc.record({ kind: fc.constant("deep" as const), pick: fc.nat(), value: nested }),
  fc.record({
    kind: fc.constant("wide" as const),
    pick: fc.nat(),
    length: fc.integer({ min: 0, max: 20_000 }),
  }),
);

/** Applies a hostile change; keys are defined as own data properties, as a JSON parser would. */
function applyHostile(root: Json, h: Hostile): Json {
  if (h.kind === "name") return { ...(root as { [k: string]: Json }), name: h.value };
  const objects = paths(root).filter((p) => {
    let v: Json = root;
    for (const seg of p) v = (v as Record<string | number, Json>)[seg] ?? null;
    return v !== null && typeof v === "object" && !Array.isArray(v);
  });
  const at = objects[h.pick % objects.length] ?? [];
  let target: Json = root;
  for (const seg of at) target = (target as Record<string | number, Json>)[seg] ?? null;
  const obj = target as { [k: string]: Json };
  const key =
    h.kind === "key" ? h.key : (Object.keys(obj)[h.pick % Math.max(1, Object.keys(obj).length)] ?? "x");
  const value: Json =
    h.kind === "key" || h.kind === "deep"
      ? h.value
      : h.kind === "number"
        ? h.value
        : Array.from({ length: h.length }, () => 0);
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  return root;
}

describe("validator properties: hostile input", () => {
  it("answers hostile keys, names and sizes with diagnostics and leaves the built-ins alone", () => {
    const before = builtinsSnapshot();
    fc.assert(
      fc.property(
        fc.nat(bases.length - 1),
        fc.array(hostile, { minLength: 1, maxLength: 3 }),
        (which, hs) => {
          let v = structuredClone(bases[which] ?? null);
          for (const h of hs) v = applyHostile(v, h);
          const r = validateInstance(v);
          const errors = r.diagnostics.filter((d) => d.severity === "error");
          if (r.spec) expect(errors).toEqual([]);
          else expect(errors.length).toBeGreaterThan(0);
          for (const d of errors) expect(formatDiagnostic(d)).toMatch(/\[DF\d{3}\]$/);
          const reserved = hs.some((h) => h.kind === "key" && RESERVED.includes(h.key));
          if (reserved) expect(errors.map((d) => d.code)).toContain("DF107");
          expect(changedBuiltins(before, builtinsSnapshot())).toEqual([]);
        },
      ),
      { numRuns: 300, seed: 20261128 },
    );
  });

  it("never follows a variant path into a prototype", () => {
    const before = builtinsSnapshot();
    const segment = fc.oneof(
      fc.constantFrom(...RESERVED, "stages", "[0]", "[*]", "time", "depth", "toString"),
      fc.stringMatching(/^[A-Za-z_$][\w$]{0,6}$/),
    );
    const path = fc
      .array(segment, { minLength: 1, maxLength: 6 })
      .map((segs) => segs.reduce((p, s) => (s.startsWith("[") ? `${p}${s}` : p ? `${p}.${s}` : s), ""));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(path, fc.jsonValue({ maxDepth: 1 })), { minLength: 1, maxLength: 3 }),
        (sets) => {
          const base = structuredClone(bases[0]) as { [k: string]: Json };
          const variants = { include: [{ name: "v", set: Object.fromEntries(sets) }] };
          const { diagnostics } = expandVariants({
            file: "spec.json",
            name: "spec",
            value: base,
            variants,
            locate: () => undefined,
            diagnostics: [],
          });
          const reserved = sets.some(([p]) => RESERVED.some((k) => p.split(/[.[\]]/).includes(k)));
          // Refused as reaching a prototype, or as malformed when it does not parse at all.
          if (reserved) expect(diagnostics.some((d) => d.code === "DF107" || d.code === "DF403")).toBe(true);
          expect(changedBuiltins(before, builtinsSnapshot())).toEqual([]);
          expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        },
      ),
      { numRuns: 300, seed: 20261129 },
    );
  });
});
