// The hostile-file corpus (issue 17, part C): hundreds of broken or hostile inputs for every file
// reader (weights, training states, ONNX models, IDX folders, image folders, PyTorch zips), each
// run through the CLI in a child process under a time and memory cap. None may hang, crash, pass
// the cap, print a stack trace or pass silently: each must exit with its code and a message that
// names the input (the file, the tensor) and what to do. The inputs are generated here, in a
// temporary folder, from small valid fixtures changed one thing at a time.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CorpusCase, type CorpusResult, corpusFailures, runCorpus } from "./helpers/corpus.ts";
import { type Fixtures, makeFixtures } from "./helpers/hostile/fixtures.ts";
import { onnxCases } from "./helpers/hostile/onnx-cases.ts";
import { stateCases } from "./helpers/hostile/state-cases.ts";
import { validWeightsCases, weightsCases } from "./helpers/hostile/weights-cases.ts";

/** Every refusal must say what to do about it, besides what is wrong. */
const FIX =
  /re-save|use another|give |pass |train again|diffit import|--model|export (it|the model) again|download|--force|--skip-bad|resize|--init|--spec|written before|check the|keep the|start over|a data folder holds/;

const dir = mkdtempSync(join(tmpdir(), "diffit-hostile-"));
let fx: Fixtures;
const families = new Map<string, CorpusCase[]>();
let results: CorpusResult[] = [];

beforeAll(async () => {
  fx = makeFixtures(dir);
  families.set("weights", [...weightsCases(fx), ...validWeightsCases(fx)]);
  families.set("states", stateCases(fx, readFileSync(fx.statePath)));
  families.set("onnx", onnxCases(fx));
  const all = [...families.values()].flat();
  for (const c of all) if (c.exit === 1) c.expect.push(FIX);
  results = await runCorpus(all, { timeoutMs: 30_000 });
}, 600_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("hostile files", () => {
  it("lists its size", () => {
    const sizes = [...families].map(([f, cases]) => `${f} ${cases.length}`);
    console.log(`hostile-file corpus: ${sizes.join(", ")}; ${results.length} run`);
  });

  it.each(["weights", "states", "onnx"])("%s: every case refused by name, in time and memory", (family) => {
    const cases = families.get(family) ?? [];
    expect(cases.filter((c) => c.exit !== 0).length).toBeGreaterThanOrEqual(100);
    expect(corpusFailures(cases, results)).toEqual([]);
  });
});
