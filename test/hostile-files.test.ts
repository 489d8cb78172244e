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
import { idxCases } from "./helpers/hostile/idx-cases.ts";
import { imageCases } from "./helpers/hostile/image-cases.ts";
import { latentCases } from "./helpers/hostile/latent-cases.ts";
import { onnxCases } from "./helpers/hostile/onnx-cases.ts";
import { ptCases } from "./helpers/hostile/pt-cases.ts";
import { stateCases } from "./helpers/hostile/state-cases.ts";
import { validWeightsCases, weightsCases } from "./helpers/hostile/weights-cases.ts";

/** Every refusal must say what to do about it, besides what is wrong. */
const FIX =
  /re-save|use another|give |pass |train again|diffit encode|--limit|--shard-size|diffit import|--model|export (it|the model) again|download|--force|--skip-bad|resize|--init|--spec|written before|check the|keep the|start over|a data folder holds|use a subset|conditioning\.classes to|one download|convert it|save the state_dict/;

const dir = mkdtempSync(join(tmpdir(), "diffit-hostile-"));
let fx: Fixtures;
const families = new Map<string, CorpusCase[]>();
let results: CorpusResult[] = [];

beforeAll(async () => {
  fx = makeFixtures(dir);
  families.set("weights", [...weightsCases(fx), ...validWeightsCases(fx)]);
  families.set("states", stateCases(fx, readFileSync(fx.statePath)));
  families.set("onnx", onnxCases(fx));
  families.set("idx", idxCases(fx));
  families.set("images", imageCases(fx));
  families.set("pt", ptCases(fx));
  families.set("latents", latentCases(fx));
  const all = [...families.values()].flat();
  for (const c of all) if (c.exit === 1) c.expect.push(FIX);
  results = await runCorpus(all, { timeoutMs: 30_000 });
}, 600_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("hostile files", () => {
  it("lists its size", () => {
    const sizes = [...families].map(
      ([f, cases]) =>
        `${f} ${new Set(cases.map((c) => String(c.expect[0]))).size} inputs in ${cases.length} cases`,
    );
    const slowest = results.reduce((a, r) => (r.ms > a.ms ? r : a), results[0] ?? { ms: 0, name: "" });
    const peak = Math.max(...results.map((r) => r.rssMiB));
    console.log(
      `hostile-file corpus: ${sizes.join(", ")}; ${results.length} run; slowest ${slowest.name} ${slowest.ms.toFixed(0)} ms; peak RSS ${peak.toFixed(0)} MiB`,
    );
  });

  it.each(["weights", "states", "onnx", "idx", "images"])(
    "%s: every case refused by name, in time and memory",
    (family) => {
      const cases = families.get(family) ?? [];
      expect(corpusFailures(cases, results)).toEqual([]);
      // Distinct inputs, not invocations: a case names its input first.
      const inputs = new Set(cases.filter((c) => c.exit !== 0).map((c) => String(c.expect[0])));
      expect(inputs.size).toBeGreaterThanOrEqual(100);
    },
  );

  it("non-finite weights are blamed on the file, not on the learning rate or a missing checkpoint", () => {
    const nonFinite = (families.get("weights") ?? []).filter((c) => /NaN|Inf/.test(c.name));
    expect(nonFinite.length).toBeGreaterThanOrEqual(30);
    for (const c of nonFinite) {
      const r = results.find((x) => x.name === c.name);
      expect(r?.output ?? "lost").not.toMatch(/--lr|--grad-clip|last good checkpoint/);
    }
  });

  it("latents: every latent dataset refused by name, in time and memory", () => {
    expect(corpusFailures(families.get("latents") ?? [], results)).toEqual([]);
  });

  // A smaller corpus: the pickle reader has its own hostile-input tests in checkpoint-import.test.ts.
  it("pt: every torch.save zip refused by name, in time and memory", () => {
    expect(corpusFailures(families.get("pt") ?? [], results)).toEqual([]);
  });
});
