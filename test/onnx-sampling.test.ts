import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { sampleOnnxJob, sampleTfjsJob } from "../src/commands/sample.ts";
import { buildGraph } from "../src/compiler/ir/build.ts";
import { type ResolvedEntry, specHash, validateInstance } from "../src/compiler/pipeline.ts";
import { selectBackend } from "../src/runtime/backend.ts";
import { initialValues } from "../src/runtime/init.ts";
import { exportOnnx } from "../src/runtime/onnx/export-model.ts";
import { Rng } from "../src/runtime/random.ts";
import { scratchDir } from "./helpers/temp.ts";

beforeAll(async () => {
  await selectBackend("wasm");
});

const r = validateInstance({
  family: "image",
  name: "s",
  input: { size: 8, channels: 1 },
  stages: [
    { channels: 8, depth: 1, windowSize: 4, heads: 2, mlpRatio: 2 },
    { channels: 16, depth: 1, windowSize: 4, heads: 2, mlpRatio: 2 },
  ],
  groupNormGroups: 4,
  time: { sinusoidDim: 8, tokenDim: 16 },
  conditioning: { classes: 3 },
  sampling: { steps: 6, guidance: { scale: 2 } },
});
if (!r.spec) throw new Error("bad spec");
const entry: ResolvedEntry = {
  name: "s",
  file: "test",
  spec: r.spec,
  hash: specHash(r.spec),
  diagnostics: [],
};
const rng = new Rng(3, "weights");
const weights = new Map(
  buildGraph(r.spec).params.map((p) => {
    const v = initialValues(p, 0);
    if (p.trainable) for (let i = 0; i < v.length; i++) v[i] = (v[i] ?? 0) + 0.05 * rng.normal();
    return [p.name, v];
  }),
);

describe("ONNX sampling engine", () => {
  for (const denoiser of ["raw", "edm"] as const) {
    it(`matches the tfjs engine for the same seed (guided Heun, ${denoiser} export)`, async () => {
      const path = join(scratchDir("ort"), "m.onnx");
      exportOnnx(entry, path, { opset: 17, fp16: false, denoiser, weights });
      const job = { spec: entry.spec, labels: [0, 1, 2, 1], count: 4, steps: 6, sampler: "heun", seed: 9 };
      const a = await sampleOnnxJob(path, job);
      const b = sampleTfjsJob(weights, job);
      expect(a.nfe).toBe(11);
      expect(b.nfe).toBe(11);
      let max = 0;
      for (let i = 0; i < a.images.length; i++)
        max = Math.max(max, Math.abs((a.images[i] ?? 0) - (b.images[i] ?? 0)));
      expect(max).toBeLessThan(1e-3);
    }, 60_000);
  }
});
