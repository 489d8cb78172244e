// The bench's PyTorch baseline (bench/torch) runs the same network as diffit: the module emitted
// from the IR computes, in PyTorch, the raw network's output that onnxruntime computes from the
// ONNX export, on the same random non-zero weights and inputs, for the image family in every
// attention mode, a small latent model in every mode, and tiny-fmnist. So the bench's
// "diffit against PyTorch" compares equal work.
//
// Tolerance: relative = max|torch − onnxruntime| / max|onnxruntime|. Both compute in float32 in
// different summation orders (oneDNN and OpenBLAS against MLAS), so they differ by rounding only,
// ≈ u·√(reduction length) per op (u = 6e-8, reductions up to a few thousand long), compounded
// over tens of layers: observed ≤ 7.4e-7 here and 1.1e-6 on diffit-cifar10 (in the bench). We
// allow 1e-5; a semantic difference exceeds it by orders of magnitude (a 10 % error in the
// attention scale gives 3e-2).
import { describe, expect, it } from "vitest";
import { torchForwardError, torchUnavailable } from "../bench/torch/torch-step.ts";
import { buildGraph } from "../src/compiler/ir/build.ts";
import type { ResolvedEntry } from "../src/compiler/pipeline.ts";
import { runFrontEnd } from "../src/compiler/pipeline.ts";
import { perturbedValues } from "../src/runtime/init.ts";
import { Rng } from "../src/runtime/random.ts";
import { entryOf } from "./helpers/entry.ts";
import { ATTENTION_MODES, smallImage, smallLatent } from "./helpers/small-specs.ts";

const TOLERANCE = 1e-5;

/** Initial weights plus noise: the zero-initialised output layers would make the check vacuous. */
const randomWeights = (entry: ResolvedEntry) =>
  perturbedValues(buildGraph(entry.spec).params, 0.05, new Rng(3, "torch-reference"));

const missing = torchUnavailable();

const title = `PyTorch reference module (bench/torch)${missing ? `, skipped: ${missing}` : ""}`;

describe.skipIf(missing !== undefined)(title, () => {
  const cases: [string, ResolvedEntry][] = [
    ...ATTENTION_MODES.map((m): [string, ResolvedEntry] => [
      `image, ${m}`,
      entryOf(smallImage(m, { relativePositionBias: true, qkvBias: true })),
    ]),
    ...ATTENTION_MODES.map((m): [string, ResolvedEntry] => [`latent, ${m}`, entryOf(smallLatent(m))]),
  ];
  const tiny = runFrontEnd("specs/tiny-fmnist.json").entries[0];
  if (!tiny) throw new Error("specs/tiny-fmnist.json is invalid");
  cases.push(["tiny-fmnist", tiny]);
  it.each(cases)("%s: forward matches onnxruntime within 1e-5", async (_, entry) => {
    const error = await torchForwardError(entry, randomWeights(entry), 3);
    expect(error).toBeLessThan(TOLERANCE);
  });
});
