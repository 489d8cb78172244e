import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import type { Diagnostic } from "../src/compiler/diagnostics.ts";
import { readTsSpec } from "../src/compiler/load/ts-document.ts";

const fixtures = fileURLToPath(new URL("./fixtures/ts/", import.meta.url));
const fixture = (name: string): string => join(fixtures, name);

// Specs that do not type-check (or import each other in a cycle) cannot live in test/fixtures,
// which the repository's own `tsc` checks, so they are written to a temporary user project.
const project = mkdtempSync(join(tmpdir(), "diffit-ts-spec-"));
writeFileSync(join(project, "package.json"), '{ "type": "module" }\n');
afterAll(() => rmSync(project, { recursive: true, force: true }));

function write(name: string, lines: string[]): string {
  const file = join(project, name);
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

const IMAGE_SPEC_HEAD = [
  'import { defineSpec } from "diffit";',
  "",
  "export default defineSpec({",
  '  family: "image",',
  '  name: "bad",',
  "  input: { size: 32, channels: 1 },",
];

/** `line:column Kind` of each DF103, as the tests below spell them. */
const constructs = (ds: Diagnostic[]): string[] =>
  ds
    .filter((d) => d.code === "DF103")
    .map((d) => `${d.location?.line}:${d.location?.column} ${/: (\w+) `/.exec(d.message)?.[1]}`);

describe("readTsSpec", { timeout: 60_000 }, () => {
  it("evaluates a valid spec statically", () => {
    const doc = readTsSpec(fixture("valid.ts"));
    expect(doc.diagnostics).toEqual([]);
    expect(doc.value).toEqual({
      family: "image",
      name: "valid",
      description: "no substitution",
      input: { size: 32, channels: 1 },
      stages: [
        { channels: 32, depth: 1, windowSize: 4 },
        { channels: 64, depth: 1, windowSize: 4, heads: 2 },
      ],
      diffusion: { kind: "edm", pMean: -1 },
      attention: { mode: "tmsa" },
      decoderBottleneck: true,
      variants: { include: [{ name: "wide", set: { "stages[0].channels": 48 } }] },
    });
  });

  it("accepts keys, assertions, satisfies, element access and spreads", () => {
    const doc = readTsSpec(fixture("literals.ts"));
    expect(doc.diagnostics).toEqual([]);
    expect(doc.value).toEqual({
      "quoted key": 1,
      "7": 2,
      negative: -2.5,
      nothing: null,
      flags: [true, false],
      picked: 1,
      spread: "object",
    });
  });

  it("spreads and imports .ts and .json specs", () => {
    const doc = readTsSpec(fixture("derived.ts"));
    expect(doc.diagnostics).toEqual([]);
    expect(doc.value).toEqual({
      family: "image",
      name: "derived",
      input: { size: 32, channels: 1 },
      stages: [
        { channels: 32, depth: 1, windowSize: 8 },
        { channels: 32, depth: 1, windowSize: 4 },
      ],
    });
  });

  it("locates each field where it was written, across imports", () => {
    const doc = readTsSpec(fixture("derived.ts"));
    const derived = fixture("derived.ts");
    expect(doc.locate(["name"])).toEqual({ file: derived, line: 7, column: 3 });
    expect(doc.locate(["stages", 0, "windowSize"])).toEqual({ file: derived, line: 8, column: 24 });
    expect(doc.locate(["stages", 0, "channels"])).toEqual({ file: fixture("base.ts"), line: 3, column: 24 });
    expect(doc.locate(["family"])).toEqual({ file: fixture("base.ts"), line: 6, column: 3 });
    expect(doc.locate(["stages", 1, "depth"])).toEqual({ file: fixture("base.json"), line: 5, column: 32 });
    // A path that was never written falls back to its nearest written ancestor.
    expect(doc.locate(["stages", 0, "heads"])).toEqual({ file: derived, line: 8, column: 12 });
  });

  it("reports every unsupported construct at its line and column", () => {
    const doc = readTsSpec(fixture("unsupported.ts"));
    expect(doc.value).toBeUndefined();
    expect(doc.diagnostics.every((d) => d.code === "DF103")).toBe(true);
    expect(constructs(doc.diagnostics).sort()).toEqual(
      [
        "3:1 VariableStatement", // let
        "4:1 VariableStatement", // var
        "5:1 FunctionDeclaration",
        "6:14 ArrowFunction",
        "8:15 VariableDeclaration", // declare const: no initializer
        "12:9 ConditionalExpression",
        "13:3 ComputedPropertyName",
        "14:18 CallExpression",
        "14:46 BinaryExpression",
        "15:24 Identifier", // bound by let
        "15:31 Identifier", // shorthand, bound by var
        "15:38 Identifier", // declared without initializer
      ].sort(),
    );
    const call = doc.diagnostics.find((d) => d.location?.line === 14);
    expect(call?.message).toBe(
      "unsupported construct in a TypeScript spec: CallExpression `Math.max(16, 32)`",
    );
    expect(call?.path).toEqual(["input", "size"]);
    expect(call?.hint).toMatch(/read statically/);
  });

  it("requires an export default", () => {
    const doc = readTsSpec(fixture("no-default.ts"));
    expect(doc.value).toBeUndefined();
    expect(constructs(doc.diagnostics)).toHaveLength(1);
    expect(doc.diagnostics[0]?.location).toEqual({ file: fixture("no-default.ts"), line: 1, column: 1 });
  });

  it("reports a type error inside a stage as DF104 at its line", () => {
    const file = write("bad-heads.ts", [
      ...IMAGE_SPEC_HEAD,
      '  stages: [{ channels: 32, depth: 1, windowSize: 4, heads: "four" }],',
      "});",
    ]);
    const doc = readTsSpec(file);
    const errors = doc.diagnostics.filter((d) => d.code === "DF104");
    expect(errors.map((d) => d.location)).toEqual([{ file, line: 7, column: 53 }]);
    expect(errors[0]?.message).toBe(
      `Type 'string' is not assignable to type 'number'. (TS2322) (got "four")`,
    );
    expect(errors[0]?.path).toEqual(["stages", 0, "heads"]);
    // Type errors do not stop static evaluation.
    expect(doc.value).toMatchObject({ stages: [{ heads: "four" }] });
    expect(readTsSpec(file, { typecheck: false }).diagnostics).toEqual([]);
  });

  it("reports an unknown enum value as DF104", () => {
    const file = write("bad-mode.ts", [
      ...IMAGE_SPEC_HEAD,
      "  stages: [{ channels: 32, depth: 1, windowSize: 4 }],",
      '  attention: { mode: "tmsb" },',
      "});",
    ]);
    const errors = readTsSpec(file).diagnostics.filter((d) => d.code === "DF104");
    expect(errors.map((d) => d.location?.line)).toEqual([8]);
    expect(errors[0]?.message).toMatch(/"tmsb"/);
  });

  it("re-checks a spec after it changes on disk", () => {
    const lines = [...IMAGE_SPEC_HEAD, "  stages: [{ channels: 32, depth: 1, windowSize: 4 }],", "});"];
    const file = write("edited.ts", lines);
    expect(readTsSpec(file).diagnostics).toEqual([]);
    write(
      "edited.ts",
      lines.map((l) => l.replace("depth: 1", "depth: true")),
    );
    expect(readTsSpec(file).diagnostics.map((d) => d.code)).toContain("DF104");
  });

  it("reports an import cycle", () => {
    const spec = (other: string) => [`import other from "./${other}";`, "", "export default { ...other };"];
    const a = write("cycle-a.ts", spec("cycle-b.ts"));
    write("cycle-b.ts", spec("cycle-a.ts"));
    const doc = readTsSpec(a, { typecheck: false });
    expect(doc.value).toBeUndefined();
    const cycle = doc.diagnostics.find((d) => d.message.startsWith("import cycle"));
    expect(cycle?.code).toBe("DF103");
    expect(cycle?.message).toBe(`import cycle: ${a} → ${join(project, "cycle-b.ts")} → ${a}`);
    expect(cycle?.location).toEqual({ file: join(project, "cycle-b.ts"), line: 1, column: 1 });
  });

  it("reports values that cannot be read from imports and consts", () => {
    const file = write("bad-references.ts", [
      'import * as all from "./base.json";',
      'import { join } from "node:path";',
      'import base, { nothing } from "./imported-base.ts";',
      "const loop = { again: loop };",
      "const i = 0;",
      "export default {",
      "  a: all,",
      "  b: join,",
      "  c: nothing,",
      "  d: base.missing,",
      "  e: base.stages[i],",
      "};",
    ]);
    write("imported-base.ts", ["export default { stages: [{ channels: 8 }] };"]);
    writeFileSync(join(project, "base.json"), "{}");
    const doc = readTsSpec(file, { typecheck: false });
    expect(constructs(doc.diagnostics)).toEqual([
      "4:23 Identifier", // refers to itself
      "7:6 Identifier",
      "8:6 Identifier", // not a spec module
      "9:6 Identifier", // not an exported const
      "10:6 PropertyAccessExpression", // no such property
      "11:6 ElementAccessExpression", // index is not a literal
    ]);
    expect(doc.diagnostics.map((d) => /\(([^)]*)\)$/.exec(d.message)?.[1])).toEqual([
      "refers to itself",
      "not a const of this file or an imported spec", // namespace import
      'imported from "node:path", which is not a .ts or .json spec',
      "not an exported const of ./imported-base.ts",
      "no such property",
      undefined,
    ]);
  });

  it("reports a missing file as DF101", () => {
    const doc = readTsSpec(fixture("missing.ts"));
    expect(doc.value).toBeUndefined();
    expect(doc.diagnostics.map((d) => d.code)).toEqual(["DF101"]);
  });

  it("reports a missing import at the import", () => {
    const file = write("imports-missing.ts", [
      'import base from "./missing.ts";',
      "export default { ...base };",
    ]);
    const doc = readTsSpec(file, { typecheck: false });
    expect(doc.diagnostics.map((d) => [d.code, d.location?.line])).toEqual([["DF101", 1]]);
  });
});
