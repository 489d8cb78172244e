// A corpus of realistic mistakes (test/fixtures/bad-specs/), each checked against what a user
// needs to see: the code, the rendered path, a message or hint fragment, the line and, for
// variants, the variant name. expected.json lists every fixture; cases where the compiler falls
// short of that are listed under "_knownFailures" and run with it.fails, so that fixing the
// compiler turns them into failures that ask for the entry to be removed. TypeScript fixtures
// that must not type-check are dotfiles (.ts-type-error-*.ts): the repository's `tsc -p .`
// skips dotfiles, while the spec reader's own checker does not.
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  DIAGNOSTIC_CODES,
  type Diagnostic,
  formatDiagnostic,
  formatPath,
} from "../src/compiler/diagnostics.ts";
import { runFrontEnd } from "../src/compiler/pipeline.ts";

const dir = fileURLToPath(new URL("./fixtures/bad-specs/", import.meta.url));

const expectation = z.strictObject({
  code: z.string().regex(/^DF\d{3}$/),
  severity: z.enum(["error", "warning"]).default("error"),
  /** The rendered path (formatPath), e.g. `stages[2].windowSize` or `(root)`. */
  path: z.string(),
  /** A fragment of the message or the hint. */
  message: z.string().min(1),
  line: z.number().int().positive().optional(),
  variant: z.string().optional(),
  /** Base name of the file the location must be in (default: the fixture itself). */
  file: z.string().optional(),
});
type Expectation = z.output<typeof expectation>;

const corpusSchema = z.object({
  _bases: z.array(z.string()),
  _knownFailures: z.record(z.string(), z.string()),
});

const raw: Record<string, unknown> = JSON.parse(readFileSync(join(dir, "expected.json"), "utf8"));
const { _bases: bases, _knownFailures: knownFailures } = corpusSchema.parse(raw);
const fixtures = new Map<string, Expectation[]>(
  Object.entries(raw)
    .filter(([name]) => !name.startsWith("_"))
    .map(([name, list]) => [name, z.array(expectation).parse(list)]),
);

function matches(d: Diagnostic, e: Expectation, fixture: string): boolean {
  if (d.code !== e.code || d.severity !== e.severity || formatPath(d.path) !== e.path) return false;
  if (!`${d.message}\n${d.hint ?? ""}`.includes(e.message)) return false;
  if (e.variant !== undefined && d.variant !== e.variant) return false;
  if (e.line === undefined) return true;
  return d.location?.line === e.line && basename(d.location.file) === (e.file ?? fixture);
}

const show = (e: Expectation): string =>
  `${e.file ?? ""}${e.line === undefined ? "" : `:${e.line}`} ${e.variant ? `[${e.variant}] ` : ""}` +
  `${e.path}: …${e.message}… [${e.code}${e.severity === "warning" ? " warning" : ""}]`;

function check(fixture: string, expected: readonly Expectation[]): void {
  const result = runFrontEnd(join(dir, fixture));
  const rendered = result.diagnostics.map(formatDiagnostic).join("\n");
  const missing = expected.filter((e) => !result.diagnostics.some((d) => matches(d, e, fixture))).map(show);
  expect(missing, `reported:\n${rendered}`).toEqual([]);
  const unlocated = result.diagnostics.filter((d) => d.location === undefined).map(formatDiagnostic);
  expect(unlocated, "every diagnostic needs a file:line:column").toEqual([]);
  const errorsExpected = expected.some((e) => e.severity === "error");
  expect(result.ok, `reported:\n${rendered}`).toBe(!errorsExpected);
  if (errorsExpected) expect(result.entries).toEqual([]);
  else expect(result.entries.length).toBeGreaterThan(0);
  // A fixture that expects nothing (a false positive) must come out clean.
  if (expected.length === 0) expect(result.diagnostics.map(formatDiagnostic)).toEqual([]);
}

describe("bad-specs corpus", () => {
  it("lists every fixture file, and only existing ones", () => {
    const files = readdirSync(dir).filter((f) => f !== "expected.json" && !bases.includes(f));
    expect([...fixtures.keys()].sort()).toEqual(files.sort());
    for (const base of bases) expect(readdirSync(dir)).toContain(base);
    for (const name of Object.keys(knownFailures)) expect(fixtures.has(name), name).toBe(true);
  });

  it("has at least 40 fixtures, several with many errors at once", () => {
    expect(fixtures.size).toBeGreaterThanOrEqual(40);
    const several = [...fixtures.values()].filter((list) => new Set(list.map(show)).size >= 3);
    expect(several.length).toBeGreaterThanOrEqual(3);
  });

  it("covers every diagnostic code that input can trigger", () => {
    const codes = new Set([...fixtures.values()].flat().map((e) => e.code));
    // DF206 is the fallback for zod issues the schema cannot produce today; DF100 reports a bug.
    const triggerable = Object.keys(DIAGNOSTIC_CODES).filter((c) => c !== "DF206" && c !== "DF100");
    expect(triggerable.filter((c) => !codes.has(c))).toEqual([]);
  });
});

// ts-morph builds its program on the first TypeScript spec, which takes a few seconds.
describe("bad specs report what the user needs", { timeout: 60_000 }, () => {
  for (const [fixture, expected] of fixtures) {
    const reason = knownFailures[fixture];
    if (reason === undefined) it(fixture, () => check(fixture, expected));
    else it.fails(`${fixture} (known shortcoming: ${reason})`, () => check(fixture, expected));
  }
});
