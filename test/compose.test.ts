// extends deep-merges a base under a derived spec; variants expand a matrix and named
// settings into separate, individually validated specs whose errors name the variant.
import { describe, expect, it } from "vitest";
import { deepMerge } from "../src/compiler/compose.ts";
import { formatPath } from "../src/compiler/diagnostics.ts";
import { runFrontEnd } from "../src/compiler/pipeline.ts";
import { parseVariantPath } from "../src/compiler/spec-path.ts";

const dir = "test/fixtures/compose";

describe("extends", () => {
  it("merges objects key by key and keeps the base's other fields", () => {
    const r = runFrontEnd(`${dir}/child.json`);
    expect(r.ok).toBe(true);
    const spec = r.entries[0]?.spec;
    if (spec?.family !== "image") throw new Error("expected an image spec");
    expect(spec.name).toBe("child");
    expect(spec.attention.mode).toBe("time-in-mlp");
    expect(spec.time.tokenDim).toBe(32);
    expect(spec.time.sinusoidDim).toBe(32); // from the base
    expect(spec.stages).toHaveLength(2); // from the base
  });

  it("replaces arrays wholesale rather than merging them by index", () => {
    expect(deepMerge({ a: [1, 2, 3], o: { x: 1, y: 2 } }, { a: [9], o: { y: 3 } })).toEqual({
      a: [9],
      o: { x: 1, y: 3 },
    });
  });

  it("locates an error in the base file when the base wrote the field", () => {
    const r = runFrontEnd("test/fixtures/compose/child-bad-base.json");
    const d = r.diagnostics.find((x) => x.code === "DF303");
    expect(d?.location?.file).toMatch(/bad-base\.json$/);
    expect(d?.location?.line).toBe(6);
  });
});

describe("variants", () => {
  const r = runFrontEnd(`${dir}/sweep.json`);

  it("expands every matrix combination plus the named includes", () => {
    expect(r.diagnostics.filter((d) => d.severity === "error").map(formatPathOf)).toEqual([]);
    expect(r.entries).toHaveLength(2 * 3 * 2 + 1);
    expect(new Set(r.entries.map((e) => e.name)).size).toBe(r.entries.length);
    expect(r.entries.map((e) => e.name)).toContain("sweep[depth=2,windowSize=8,mode=adaln]");
  });

  it("applies [*] to every stage", () => {
    const e = r.entries.find((x) => x.name === "sweep[depth=2,windowSize=2,mode=tmsa]");
    if (e?.spec.family !== "image") throw new Error("missing variant");
    expect(e.spec.stages.map((s) => [s.depth, s.windowSize])).toEqual([
      [2, 2],
      [2, 2],
    ]);
  });

  it("gives each variant its own hash", () => {
    expect(new Set(r.entries.map((e) => e.hash)).size).toBe(r.entries.length);
  });

  it("reports an invalid variant with its name and the matrix key's location", () => {
    const bad = runFrontEnd(`${dir}/sweep-bad.json`);
    expect(bad.ok).toBe(false);
    const d = bad.diagnostics.find((x) => x.code === "DF303");
    expect(d?.variant).toBe("sweep-bad[windowSize=32]");
    expect(formatPath(d?.path ?? [])).toBe("stages[1].windowSize");
    expect(d?.location?.line).toBe(5);
  });
});

describe("variant paths", () => {
  it("parses names, indices and wildcards", () => {
    expect(parseVariantPath("stages[*].depth")).toEqual(["stages", "*", "depth"]);
    expect(parseVariantPath("a.b[2].c")).toEqual(["a", "b", 2, "c"]);
  });
  it.each(["", ".a", "a..b", "a[x]", "[0]", "a.", "a b"])("rejects %j", (p) => {
    expect(typeof parseVariantPath(p)).toBe("string");
  });
});

function formatPathOf(d: { path: readonly (string | number)[]; message: string }) {
  return `${formatPath(d.path)}: ${d.message}`;
}
