// `diffit eval`: sample quality of a class-conditional Fashion-MNIST model — the fraction of
// samples a classifier assigns to their conditioning label, and FID/KID on the classifier's
// penultimate features (or a user's ONNX feature network) against real test images.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { buildGraph } from "../compiler/ir/build.ts";
import { InputError, UsageError } from "../errors.ts";
import { describeBackend, selectBackend } from "../runtime/backend.ts";
import { loadWeights } from "../runtime/checkpoint/model-checkpoint.ts";
import { loadData } from "../runtime/data/load-data.ts";
import { DEFAULT_CLASSIFIER_OPTIONS, loadOrTrainClassifier } from "../runtime/eval/classifier.ts";
import { classConditionalAccuracy, fid, kid } from "../runtime/eval/metrics.ts";
import { imageGrid, writePng } from "../runtime/images/png.ts";
import { exportOnnx } from "../runtime/onnx/export-model.ts";
import { openSession, ort } from "../runtime/onnx/session.ts";
import { specFromOnnx } from "../runtime/onnx/verify.ts";
import {
  type CommandContext,
  EXIT,
  loadOne,
  nonNegativeInt,
  nonNegativeNumber,
  positiveInt,
} from "./context.ts";
import { sampleOnnxJob } from "./sample.ts";
import { DEFAULT_DATA } from "./train.ts";

interface EvalFlags {
  checkpoint?: string;
  model?: string;
  n: number;
  steps?: number;
  guidance?: number;
  seed: number;
  data: string;
  cache: string;
  features?: string;
  grid?: string;
  chunk: number;
  variant?: string;
  backend?: string;
  json?: boolean;
  typecheck: boolean;
}

/** Features of [n, s, s, 1] images from a user's ONNX network (first input, first output). */
async function onnxFeatures(
  path: string,
  images: Float32Array,
  n: number,
  size: number,
): Promise<{ values: Float32Array; dim: number }> {
  const session = await openSession(path);
  try {
    const input = session.inputNames[0];
    const output = session.outputNames[0];
    if (!input || !output) throw new InputError(`${path} has no input or output`);
    const chunks: Float32Array[] = [];
    let dim = 0;
    for (let start = 0; start < n; start += 50) {
      const m = Math.min(50, n - start);
      const x = images.subarray(start * size * size, (start + m) * size * size); // C = 1: NHWC = NCHW
      const out = (
        await session.run({ [input]: new ort.Tensor("float32", Float32Array.from(x), [m, 1, size, size]) })
      )[output];
      if (!out) throw new InputError(`${path} produced no ${output}`);
      dim = (out.data as Float32Array).length / m;
      chunks.push(Float32Array.from(out.data as Float32Array));
    }
    const values = new Float32Array(n * dim);
    let at = 0;
    for (const c of chunks) {
      values.set(c, at);
      at += c.length;
    }
    return { values, dim };
  } finally {
    await session.release();
  }
}

export function registerEval(program: Command, { io, setExit }: CommandContext): void {
  program
    .command("eval")
    .description(
      "class-conditional accuracy, FID and KID of a Fashion-MNIST model's samples (classifier trained once, cached)",
    )
    .argument("[spec]", "spec file (not needed with --model)")
    .option("--checkpoint <weights>", "weights of the spec (.safetensors)")
    .option("--model <onnx>", "an ONNX file exported by diffit")
    .option(
      "-n <n>",
      "generated samples (class-balanced); also the number of real test images",
      positiveInt("-n"),
      1000,
    )
    .option("--steps <n>", "Heun steps (default: sampling.steps of the spec)", positiveInt("--steps"))
    .option("--guidance <scale>", "guidance scale (default: the spec's)", nonNegativeNumber("--guidance"))
    .option("--seed <n>", "sampling seed", nonNegativeInt("--seed"), 0)
    .option(
      "--data <dir>",
      "Fashion-MNIST IDX folder: classifier training and real test images",
      DEFAULT_DATA,
    )
    .option("--cache <dir>", "where the trained classifier is kept", "out/cache")
    .option(
      "--features <onnx>",
      "a feature network for FID/KID instead of the classifier (input [N,1,32,32] in [-1,1])",
    )
    .option("--grid <png>", "also write the first 10 samples of each class as a grid")
    .option("--chunk <n>", "samples per sampling call", positiveInt("--chunk"), 100)
    .option("--variant <name>", "the variant, for specs with variants")
    .option("--backend <name>", "tfjs backend for the classifier")
    .option("--json", "print the result as JSON")
    .option("--no-typecheck", "skip the TypeScript checker on .ts specs")
    .action(async (file: string | undefined, o: EvalFlags) => {
      if (!o.model && !(file && o.checkpoint))
        throw new UsageError("give a spec and --checkpoint, or --model <exported.onnx>");
      const spec = o.model
        ? specFromOnnx(o.model).spec
        : loadOne(io, file ?? "", o.typecheck, o.variant).spec;
      const classes = spec.conditioning.classes;
      if (classes !== 10 || spec.input.size !== 32 || spec.input.channels !== 1) {
        throw new InputError(
          "diffit eval measures class-conditional 32×32×1 Fashion-MNIST models (10 classes)",
        );
      }
      const backend = await selectBackend(o.backend);
      io.err(describeBackend(backend));
      const t0 = performance.now();
      const cached = await loadOrTrainClassifier(o.cache, o.data, { ...DEFAULT_CLASSIFIER_OPTIONS });
      const classifierSeconds = (performance.now() - t0) / 1000;
      io.err(
        `classifier: ${cached.trained ? "trained" : "cached"} ${cached.path} (test accuracy ${((cached.metadata.testAccuracy ?? Number.NaN) * 100).toFixed(1)} %, ${classifierSeconds.toFixed(0)} s)`,
      );

      let model = o.model;
      if (!model) {
        const entry = loadOne(io, file ?? "", o.typecheck, o.variant);
        model = join(mkdtempSync(join(tmpdir(), "diffit-eval-")), "model.onnx");
        exportOnnx(entry, model, {
          opset: 17,
          fp16: false,
          denoiser: "edm",
          weights: loadWeights(o.checkpoint ?? "", buildGraph(spec)).weights,
        });
      }
      const labels = Array.from({ length: o.n }, (_, i) => i % classes);
      const images = new Float32Array(o.n * 32 * 32);
      const ts = performance.now();
      let nfe = 0;
      for (let start = 0; start < o.n; start += o.chunk) {
        const part = labels.slice(start, start + o.chunk);
        const r = await sampleOnnxJob(model, {
          spec,
          labels: part,
          count: part.length,
          steps: o.steps ?? spec.sampling.steps,
          sampler: "heun",
          seed: o.seed + start,
          ...(o.guidance !== undefined ? { guidanceScale: o.guidance } : {}),
        });
        images.set(r.images, start * 32 * 32);
        nfe = r.nfe;
        io.err(`sampled ${Math.min(o.n, start + o.chunk)}/${o.n}`);
      }
      const samplingSeconds = (performance.now() - ts) / 1000;
      if (o.grid) {
        const order = Array.from(
          { length: classes * 10 },
          (_, i) => Math.floor(i / 10) + classes * (i % 10),
        ).filter((i) => i < o.n);
        const picked = new Float32Array(order.length * 1024);
        for (const [k, idx] of order.entries())
          picked.set(images.subarray(idx * 1024, (idx + 1) * 1024), k * 1024);
        writePng(o.grid, imageGrid(picked, order.length, 32, 32, 1, 10));
      }

      const generated = cached.classifier.classify(images);
      const predicted = Array.from({ length: o.n }, (_, i) => {
        let best = 0;
        for (let k = 1; k < 10; k++)
          if ((generated.logits[i * 10 + k] ?? 0) > (generated.logits[i * 10 + best] ?? 0)) best = k;
        return best;
      });
      const acc = classConditionalAccuracy(predicted, labels, classes);
      const real = loadData(o.data, { size: 32, channels: 1, split: "test", limit: o.n });
      let featsGen = generated.features;
      let featsReal = cached.classifier.classify(real.images).features;
      let dim = featsGen.length / o.n;
      let featureSource = "classifier penultimate layer";
      if (o.features) {
        const g = await onnxFeatures(o.features, images, o.n, 32);
        const r = await onnxFeatures(o.features, real.images, real.count, 32);
        // KID's cubic kernel needs unit-scale features (as the classifier's are): divide both sets
        // by the RMS of the real features.
        const rms =
          Math.sqrt(r.values.reduce((acc, v) => acc + v * v, 0) / Math.max(1, r.values.length)) || 1;
        featsGen = g.values.map((v) => v / rms);
        featsReal = r.values.map((v) => v / rms);
        dim = g.dim;
        featureSource = o.features;
      }
      const fidValue = fid(featsGen, featsReal, dim);
      const kidValue = kid(featsGen, featsReal, dim, { subsetSize: Math.min(1000, o.n, real.count) });
      const result = {
        samples: o.n,
        realImages: real.count,
        steps: o.steps ?? spec.sampling.steps,
        nfe,
        guidance: o.guidance ?? spec.sampling.guidance.scale,
        classAccuracy: acc.accuracy,
        perClass: acc.perClass.map((c) => ({ label: c.label, accuracy: c.accuracy })),
        fid: fidValue,
        kid: { mean: kidValue.mean, std: kidValue.std },
        features: featureSource,
        classifierTestAccuracy: cached.metadata.testAccuracy,
        samplingSeconds,
      };
      if (o.json) io.out(JSON.stringify(result, null, 2));
      else {
        io.out(
          [
            `class-conditional accuracy  ${(acc.accuracy * 100).toFixed(1)} % of ${o.n} samples (Heun ${result.steps} steps, NFE ${nfe}, guidance ${result.guidance})`,
            `per class                   ${acc.perClass.map((c) => `${c.label}:${(c.accuracy * 100).toFixed(0)}%`).join(" ")}`,
            `FID                         ${fidValue.toFixed(3)} (${featureSource}, vs ${real.count} test images)`,
            `KID                         ${kidValue.mean.toFixed(5)} ± ${kidValue.std.toFixed(5)}`,
            `sampling                    ${samplingSeconds.toFixed(0)} s on ONNX Runtime`,
          ].join("\n"),
        );
      }
      setExit(EXIT.ok);
    });
}
