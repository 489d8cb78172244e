// Sample quality of a class-conditional 32×32×1 Fashion-MNIST model exported to ONNX: the fraction
// of samples the evaluation classifier assigns to their conditioning label, and FID/KID on the
// classifier's penultimate features (or a user's ONNX feature network) against real test images.
// Shared by `diffit eval` and `diffit train --sweep`.
import type { ResolvedSpec } from "../../compiler/resolve-defaults.ts";
import { InputError } from "../../errors.ts";
import { loadData } from "../data/load-data.ts";
import { sampleWithOnnx } from "../onnx/onnx-sampler.ts";
import { openSession, ort } from "../onnx/session.ts";
import {
  type CachedClassifierOptions,
  DEFAULT_CLASSIFIER_OPTIONS,
  loadOrTrainClassifier,
} from "./classifier.ts";
import { classConditionalAccuracy, fid, kid } from "./metrics.ts";

const SIZE = 32;
const CLASSES = 10;

export interface EvaluateOptions {
  /** An ONNX file exported by diffit (EDM denoiser). */
  model: string;
  spec: ResolvedSpec;
  /** Generated samples (class-balanced); also the number of real test images. */
  n: number;
  steps: number;
  guidance?: number;
  seed: number;
  /** Fashion-MNIST IDX folder: classifier training and real test images. */
  data: string;
  /** Where the trained classifier is cached. */
  cache: string;
  /** A user's feature network for FID/KID (input [N,1,32,32] in [-1,1]). */
  features?: string;
  /** Samples per sampling call. */
  chunk: number;
  /** How the evaluation classifier is trained, if not cached (default: DEFAULT_CLASSIFIER_OPTIONS). */
  classifier?: CachedClassifierOptions;
  log?: (line: string) => void;
}

export interface Evaluation {
  samples: number;
  realImages: number;
  steps: number;
  nfe: number;
  guidance: number;
  classAccuracy: number;
  perClass: { label: number; accuracy: number }[];
  fid: number;
  /** subsets: how many random subsets of subsetSize the mean and spread are over. */
  kid: { mean: number; std: number; subsets: number; subsetSize: number };
  features: string;
  classifierTestAccuracy: number | undefined;
  samplingSeconds: number;
  /** The generated images, [n, 32, 32, 1] in [-1, 1], label i % 10. */
  images: Float32Array;
}

/** Why a spec cannot be evaluated this way, or undefined when it can. */
export function notEvaluable(spec: ResolvedSpec): string | undefined {
  if (spec.conditioning.classes !== CLASSES || spec.input.size !== SIZE || spec.input.channels !== 1)
    return "diffit eval measures class-conditional 32×32×1 Fashion-MNIST models (10 classes)";
  if (spec.diffusion.kind !== "edm") return "diffit eval samples EDM models";
  return undefined;
}

/** Features of [n, s, s, 1] images from a user's ONNX network (first input, first output). */
async function onnxFeatures(
  path: string,
  images: Float32Array,
  n: number,
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
      const x = images.subarray(start * SIZE * SIZE, (start + m) * SIZE * SIZE); // C = 1: NHWC = NCHW
      const out = (
        await session.run({ [input]: new ort.Tensor("float32", Float32Array.from(x), [m, 1, SIZE, SIZE]) })
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

function argmax10(logits: Float32Array, i: number): number {
  let best = 0;
  for (let k = 1; k < CLASSES; k++)
    if ((logits[i * CLASSES + k] ?? 0) > (logits[i * CLASSES + best] ?? 0)) best = k;
  return best;
}

export async function evaluateModel(o: EvaluateOptions): Promise<Evaluation> {
  const why = notEvaluable(o.spec);
  if (why) throw new InputError(why);
  const log = o.log ?? (() => {});
  const t0 = performance.now();
  const cached = await loadOrTrainClassifier(
    o.cache,
    o.data,
    o.classifier ?? { ...DEFAULT_CLASSIFIER_OPTIONS },
  );
  log(
    `classifier: ${cached.trained ? "trained" : "cached"} ${cached.path} (test accuracy ${((cached.metadata.testAccuracy ?? Number.NaN) * 100).toFixed(1)} %, ${((performance.now() - t0) / 1000).toFixed(0)} s)`,
  );

  const labels = Array.from({ length: o.n }, (_, i) => i % CLASSES);
  const images = new Float32Array(o.n * SIZE * SIZE);
  const guidance = {
    ...o.spec.sampling.guidance,
    ...(o.guidance !== undefined ? { scale: o.guidance } : {}),
  };
  const ts = performance.now();
  let nfe = 0;
  for (let start = 0; start < o.n; start += o.chunk) {
    const part = labels.slice(start, start + o.chunk);
    const r = await sampleWithOnnx(o.model, o.spec, part.length, {
      sampler: "heun",
      steps: o.steps,
      seed: o.seed + start,
      guidance,
      labels: part,
    });
    images.set(r.images, start * SIZE * SIZE);
    nfe = r.nfe;
    log(`sampled ${Math.min(o.n, start + o.chunk)}/${o.n}`);
  }
  const samplingSeconds = (performance.now() - ts) / 1000;

  const generated = cached.classifier.classify(images);
  const predicted = labels.map((_, i) => argmax10(generated.logits, i));
  const acc = classConditionalAccuracy(predicted, labels, CLASSES);
  const real = loadData(o.data, { size: SIZE, channels: 1, split: "test", limit: o.n });
  let featsGen = generated.features;
  let featsReal = cached.classifier.classify(real.images).features;
  let dim = featsGen.length / o.n;
  let featureSource = "classifier penultimate layer";
  if (o.features) {
    const g = await onnxFeatures(o.features, images, o.n);
    const r = await onnxFeatures(o.features, real.images, real.count);
    // KID's cubic kernel needs unit-scale features (as the classifier's are): divide both sets
    // by the RMS of the real features.
    const rms = Math.sqrt(r.values.reduce((a, v) => a + v * v, 0) / Math.max(1, r.values.length)) || 1;
    featsGen = g.values.map((v) => v / rms);
    featsReal = r.values.map((v) => v / rms);
    dim = g.dim;
    featureSource = o.features;
  }
  const kidValue = kid(featsGen, featsReal, dim, { subsetSize: Math.min(1000, o.n, real.count) });
  return {
    samples: o.n,
    realImages: real.count,
    steps: o.steps,
    nfe,
    guidance: guidance.scale,
    classAccuracy: acc.accuracy,
    perClass: acc.perClass.map((c) => ({ label: c.label, accuracy: c.accuracy })),
    fid: fid(featsGen, featsReal, dim),
    kid: {
      mean: kidValue.mean,
      std: kidValue.std,
      subsets: kidValue.values.length,
      subsetSize: kidValue.subsetSize,
    },
    features: featureSource,
    classifierTestAccuracy: cached.metadata.testAccuracy,
    samplingSeconds,
    images,
  };
}

/** The first `perClass` samples of each class, one row per class (for a grid image). */
export function classRows(
  images: Float32Array,
  n: number,
  perClass = 10,
): { images: Float32Array; count: number } {
  const order = Array.from(
    { length: CLASSES * perClass },
    (_, i) => Math.floor(i / perClass) + CLASSES * (i % perClass),
  ).filter((i) => i < n);
  const picked = new Float32Array(order.length * SIZE * SIZE);
  for (const [k, idx] of order.entries())
    picked.set(images.subarray(idx * SIZE * SIZE, (idx + 1) * SIZE * SIZE), k * SIZE * SIZE);
  return { images: picked, count: order.length };
}
