// Golden IR and ONNX graphs, one small spec per model family and attention mode: a change to the
// IR builder, a shape rule or a lowering shows up as a reviewable diff of test/golden/graphs/.
// Refresh with UPDATE_GOLDEN=1 (goldens never create themselves).
import { describe, it } from "vitest";
import { emitOnnx } from "../src/compiler/emit/onnx/emit.ts";
import { printOnnx } from "../src/compiler/emit/onnx/print.ts";
import { buildGraph } from "../src/compiler/ir/build.ts";
import { printGraph } from "../src/compiler/ir/print.ts";
import { runFrontEnd } from "../src/compiler/pipeline.ts";
import { expectGolden } from "./helpers/golden.ts";

// Small specs covering both families, every attention mode, fourier/positional time and adaLN.
const SPECS: { file: string; names?: RegExp }[] = [
  { file: "specs/tiny-fmnist.json" },
  {
    file: "specs/sweeps/tiny-fmnist-sweep.json",
    names: /depth=1,windowSize=4,mode=(time-independent|time-in-bias|time-in-mlp|adaln)/,
  },
  { file: "test/fixtures/checkpoint-import/latent-small.json" },
];

const entries = SPECS.flatMap(({ file, names }) =>
  runFrontEnd(file).entries.filter((e) => !names || names.test(e.name)),
);
const slug = (name: string) => name.replace(/[^A-Za-z0-9.-]+/g, "-").replace(/-+$/, "");

describe("golden graphs", () => {
  it("cover every spec they name", () => {
    if (entries.length !== 6)
      throw new Error(`expected 6 specs, found ${entries.map((e) => e.name).join(", ")}`);
  });
  for (const entry of entries) {
    it(`${entry.name}: IR`, () => {
      expectGolden(`test/golden/graphs/${slug(entry.name)}.ir.txt`, printGraph(buildGraph(entry.spec)));
    });
    it(`${entry.name}: ONNX (opset 17, raw denoiser)`, () => {
      const graph = buildGraph(entry.spec);
      const shapes = new Map(graph.params.map((p) => [p.name, p.shape]));
      const zeros = (name: string) => new Float32Array((shapes.get(name) ?? []).reduce((a, b) => a * b, 1));
      const emitted = emitOnnx(graph, {
        opset: 17,
        fp16: false,
        denoiser: "raw",
        diffusion: entry.spec.diffusion,
        weights: zeros,
        metadata: {},
        producerVersion: "golden",
      });
      expectGolden(`test/golden/graphs/${slug(entry.name)}.onnx.txt`, printOnnx(emitted));
    });
  }
});
