// The training loop: seeded batches, micro-batched gradients, clipping, Adam/AdamW with warm-up,
// EMA, periodic atomic checkpoints and sample grids, exact resume, a clean stop on Ctrl-C or a
// time budget, and a hard stop (keeping the last good checkpoint) on a non-finite loss.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { buildGraph } from "../../compiler/ir/build.ts";
import type { ResolvedEntry } from "../../compiler/pipeline.ts";
import { InputError } from "../../errors.ts";
import { checkpointMetadata, saveWeights } from "../checkpoint/model-checkpoint.ts";
import { DataOrder } from "../data/data-order.ts";
import type { Dataset } from "../data/dataset.ts";
import { ddpmLoss, GaussianDiffusion } from "../diffusion/ddpm.ts";
import { edmLoss, type Network } from "../diffusion/edm.ts";
import { imageGrid, writePng } from "../images/png.ts";
import { Rng } from "../random.ts";
import { sampleImages } from "../sampling/sample.ts";
import { accumulateGradients } from "../tfjs/accumulate.ts";
import { TfjsModel, type Weights } from "../tfjs/model.ts";
import { Adam, clipByGlobalNorm, learningRate } from "./adam.ts";
import { makeBatch } from "./batch.ts";
import { Ema } from "./ema.ts";
import { MetricsLog, progressBar } from "./reporting.ts";
import { loadTrainState, saveTrainState } from "./train-state.ts";

export interface TrainOptions {
  /** The step to train up to (a resumed run continues towards the same total). */
  steps: number;
  batchSize: number;
  /** Samples per forward/backward pass; gradients of a step are averaged over micro-batches. */
  microBatch: number;
  lr: number;
  warmupSteps: number;
  gradClip: number | null;
  emaDecay: number;
  optimizer: "adam" | "adamw";
  betas: readonly [number, number];
  weightDecay: number;
  seed: number;
  outDir: string;
  checkpointEvery: number;
  /** Steps between sample grids and loss curves (0: never). */
  sampleEvery: number;
  sampleSteps: number;
  resume: boolean;
  /** Start from these weights (fine-tuning) instead of the seeded initialisation. */
  init?: Weights;
  flip: boolean;
  progress: boolean;
  /** Stop (and checkpoint) after this many seconds. */
  maxSeconds?: number;
}

export interface TrainResult {
  step: number;
  stepsRun: number;
  lastLoss: number;
  seconds: number;
  stopped: "done" | "interrupted" | "time-budget" | "non-finite-loss";
  message?: string;
  statePath: string;
  emaPath: string;
  metricsPath: string;
}

export const trainPaths = (outDir: string) => ({
  state: join(outDir, "state.safetensors"),
  ema: join(outDir, "ema.safetensors"),
  metrics: join(outDir, "metrics.jsonl"),
  lossCurve: join(outDir, "loss.png"),
  samples: join(outDir, "samples.png"),
});

/** A sample grid with the EMA weights: one row per class (conditional) or 4×4 (unconditional). */
export function sampleGrid(
  entry: ResolvedEntry,
  weights: Weights,
  steps: number,
  seed: number,
  perClass = 8,
) {
  const spec = entry.spec;
  const graph = buildGraph(spec);
  const model = TfjsModel.fromWeights(graph, weights);
  try {
    const classes = spec.conditioning.classes;
    const labels =
      classes > 0
        ? Array.from({ length: classes * perClass }, (_, i) => Math.floor(i / perClass))
        : undefined;
    const n = labels?.length ?? 16;
    const net: Network = (x, t, y) => model.forward({ x, t, y }, { release: true });
    const { size, channels } = spec.input;
    const { images, nfe } = sampleImages(spec, net, {
      count: n,
      ...(labels ? { labels } : {}),
      steps,
      sampler: spec.sampling.sampler,
      seed,
      guidance: { ...spec.sampling.guidance },
    });
    const values = images.dataSync() as Float32Array;
    images.dispose();
    return { grid: imageGrid(values, n, size, size, channels, labels ? perClass : 4), nfe, values, labels };
  } finally {
    model.dispose();
  }
}

export async function train(entry: ResolvedEntry, data: Dataset, o: TrainOptions): Promise<TrainResult> {
  const spec = entry.spec;
  const diffusion = spec.diffusion;
  // EDM: ln σ ~ N(P_mean, P_std²); DDPM: t ~ U{0..T−1} with the ADM loss.
  const ddpm = diffusion.kind === "ddpm" ? GaussianDiffusion.fromConfig(diffusion) : undefined;
  const level =
    diffusion.kind === "edm"
      ? (r: Rng) => Math.exp(diffusion.pMean + diffusion.pStd * r.normal())
      : (r: Rng) => r.int(diffusion.steps);
  type LossOf = (net: Network, x: tf.Tensor, noise: tf.Tensor, levels: number[], y?: tf.Tensor) => tf.Scalar;
  const lossOf: LossOf =
    diffusion.kind === "edm"
      ? (net, x, noise, levels, y) => edmLoss(diffusion, net, x, noise, levels, y)
      : (net, x, noise, levels, y) =>
          ddpmLoss(ddpm ?? GaussianDiffusion.fromConfig(diffusion), net, x, noise, levels, y);
  if (data.size !== spec.input.size || data.channels !== spec.input.channels) {
    throw new InputError(
      `the data is ${data.size}×${data.size}×${data.channels} but ${entry.name} expects ${spec.input.size}×${spec.input.size}×${spec.input.channels}`,
    );
  }
  mkdirSync(o.outDir, { recursive: true });
  const paths = trainPaths(o.outDir);
  const graph = buildGraph(spec);
  const model = o.init ? TfjsModel.fromWeights(graph, o.init) : TfjsModel.create(graph, o.seed);
  const ema = new Ema(model.variables, o.emaDecay);
  const adam = new Adam(model.variables, {
    kind: o.optimizer,
    betas: o.betas,
    eps: 1e-8,
    weightDecay: o.weightDecay,
  });
  const rng = new Rng(o.seed, "train");
  let order = new DataOrder(data.count, o.seed);
  const metrics = new MetricsLog(paths.metrics);
  let step = 0;

  if (o.resume) {
    const s = loadTrainState(paths.state, graph, entry.hash);
    for (const [name, v] of model.variables)
      v.assign(tf.tensor(s.model.get(name) ?? new Float32Array(), v.shape));
    for (const [name, v] of ema.shadow) v.assign(tf.tensor(s.ema.get(name) ?? new Float32Array(), v.shape));
    for (const [name, v] of adam.m) v.assign(tf.tensor(s.adamM.get(name) ?? new Float32Array(), v.shape));
    for (const [name, v] of adam.v) v.assign(tf.tensor(s.adamV.get(name) ?? new Float32Array(), v.shape));
    adam.step = s.progress.adamStep;
    rng.restore(s.progress.rng);
    order = new DataOrder(data.count, o.seed, s.progress.data);
    step = s.progress.step;
    metrics.truncateAfter(step);
  } else {
    metrics.truncateAfter(-1);
  }

  const conditional = spec.conditioning.classes > 0;
  const batchOptions = {
    flip: o.flip,
    conditional,
    nullLabel: spec.conditioning.classes,
    labelDropout: spec.conditioning.labelDropout,
    level,
  };
  const parts = Math.ceil(o.batchSize / Math.max(1, Math.min(o.microBatch, o.batchSize)));
  const per = Math.ceil(o.batchSize / parts);
  const save = () => {
    const progress = { step, adamStep: adam.step, rng: rng.state(), data: order.snapshot() };
    saveTrainState(
      paths.state,
      entry,
      { model: model.variables, ema: ema.shadow, adamM: adam.m, adamV: adam.v },
      progress,
    );
    saveWeights(paths.ema, ema.weights(), graph, {
      ...checkpointMetadata(entry),
      step: String(step),
      weights: "ema",
    });
  };

  let stopRequested: TrainResult["stopped"] | undefined;
  const onSigint = () => {
    stopRequested = "interrupted";
  };
  process.once("SIGINT", onSigint);
  const bar = progressBar(o.steps, step, o.progress);
  const started = performance.now();
  const startStep = step;
  let lastLoss = Number.NaN;
  let lastSaved = step;
  let message: string | undefined;
  try {
    while (step < o.steps) {
      // Yield to the event loop each step: Ctrl-C (SIGINT) and the progress bar's timer run there.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (o.maxSeconds !== undefined && (performance.now() - started) / 1000 > o.maxSeconds)
        stopRequested ??= "time-budget";
      if (stopRequested) break;
      const t0 = performance.now();
      const batch = makeBatch(data, order.next(o.batchSize), rng, batchOptions);
      const { size, channels } = spec.input;
      const net: Network = (x, t, y) =>
        model.forward({ x, t, y }, { training: true, dropoutSeed: o.seed * 1_000_003 + step });
      const { loss, grads } = accumulateGradients(model.variables, parts, (i) =>
        tf.tidy(() => {
          const lo = i * per;
          const hi = Math.min(o.batchSize, lo + per);
          const elems = size * size * channels;
          const shape: [number, number, number, number] = [hi - lo, size, size, channels];
          const x = tf.tensor4d(batch.images.subarray(lo * elems, hi * elems), shape);
          const noise = tf.tensor4d(batch.noise.subarray(lo * elems, hi * elems), shape);
          const y = batch.labels ? tf.tensor1d(batch.labels.subarray(lo, hi), "int32") : undefined;
          return lossOf(net, x, noise, batch.levels.slice(lo, hi), y);
        }),
      );
      if (!Number.isFinite(loss)) {
        tf.dispose(Object.values(grads));
        stopRequested = "non-finite-loss";
        message = `loss became ${loss} at step ${step + 1}; stopped without saving, the last good checkpoint (step ${lastSaved}) is in ${paths.state}. Try a lower --lr or --grad-clip.`;
        break;
      }
      const gradNorm = clipByGlobalNorm(grads, o.gradClip);
      step++;
      const lr = learningRate(o.lr, o.warmupSteps, step);
      adam.apply(grads, lr);
      tf.dispose(Object.values(grads));
      ema.update();
      lastLoss = loss;
      const seconds = (performance.now() - t0) / 1000;
      metrics.append({ step, loss, lr, gradNorm, seconds, imagesPerSecond: o.batchSize / seconds });
      bar.update(step, loss, 1 / seconds);
      if (step % o.checkpointEvery === 0 || step === o.steps) {
        save();
        lastSaved = step;
      }
      if (o.sampleEvery > 0 && step % o.sampleEvery === 0) {
        metrics.writeCurve(paths.lossCurve);
        const { grid } = sampleGrid(entry, ema.weights(), o.sampleSteps, o.seed);
        writePng(paths.samples, grid);
        writePng(join(o.outDir, `samples-${String(step).padStart(7, "0")}.png`), grid);
      }
    }
    if ((stopRequested === "interrupted" || stopRequested === "time-budget") && step > lastSaved) save();
    if (step > startStep) metrics.writeCurve(paths.lossCurve);
  } finally {
    bar.stop();
    process.removeListener("SIGINT", onSigint);
    adam.dispose();
    ema.dispose();
    model.dispose();
  }
  return {
    step,
    stepsRun: step - startStep,
    lastLoss,
    seconds: (performance.now() - started) / 1000,
    stopped: stopRequested ?? "done",
    ...(message ? { message } : {}),
    statePath: paths.state,
    emaPath: paths.ema,
    metricsPath: paths.metrics,
  };
}
