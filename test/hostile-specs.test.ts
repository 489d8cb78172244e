// Hostile and broken spec inputs, each run through the CLI in a child process under a time and
// memory cap (test/helpers/corpus.ts): none may hang, crash, print a stack trace, pass silently,
// or change a built-in prototype; each must exit as expected with a message that names the file
// (and the path, where there is one) and says the fix. Files whose size matters are generated.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { corpusFailures, runCorpus } from "./helpers/corpus.ts";
import { extendsCases, runCases, variantCases } from "./helpers/hostile-compose-cases.ts";
import { Corpus } from "./helpers/hostile-files.ts";
import { encodingCases, fileKindCases, sizeCases, syntaxCases } from "./helpers/hostile-json-cases.ts";
import {
  EXECUTED_MARK,
  tsCodeCases,
  tsImportCases,
  tsKeyCases,
  tsSyntaxCases,
} from "./helpers/hostile-ts-cases.ts";
import { keyCases, nameCases, numberCases } from "./helpers/hostile-value-cases.ts";

const dir = mkdtempSync(join(tmpdir(), "diffit-hostile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// TypeScript specs import defineSpec from "diffit" as ES modules.
writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');

const corpus = new Corpus(dir);
for (const build of [
  fileKindCases,
  encodingCases,
  sizeCases,
  syntaxCases,
  numberCases,
  keyCases,
  nameCases,
  extendsCases,
  variantCases,
  runCases,
  tsSyntaxCases,
  tsKeyCases,
  tsCodeCases,
  tsImportCases,
]) {
  build(corpus);
}

describe("hostile spec corpus", () => {
  it("has at least 100 cases, each named once", () => {
    expect(corpus.cases.length).toBeGreaterThanOrEqual(100);
    expect(new Set(corpus.cases.map((c) => c.name)).size).toBe(corpus.cases.length);
  });

  it("refuses every case with a located message, within 20 s and 1 GiB each", {
    timeout: 600_000,
  }, async () => {
    const results = await runCorpus(corpus.cases, { timeoutMs: 20_000, rssCapMiB: 1024 });
    expect(corpusFailures(corpus.cases, results)).toEqual([]);
    // No spec's code ran: a TypeScript spec is read, never executed.
    expect(existsSync(join(dir, EXECUTED_MARK))).toBe(false);
  });
});
