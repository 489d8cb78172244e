// The ONNX training engine: one compiled graph per step (src/compiler/training/train-step.ts)
// run by onnxruntime-node. The loop around it is the tfjs trainer's: the same seeded batches
// and draws (makeBatch, DataOrder, Rng), the same learning-rate schedule, metrics, progress bar,
// sample grids, checkpoint file, Ctrl-C and time-budget handling, so a run can switch engines
// at any checkpoint. State lives as onnxruntime tensors: each step's outputs are the next
// step's inputs, with no copy on the JS side.
import { mkdirSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import * as ort from "onnxruntime-node";
import { buildGraph } from "../../compiler/ir/build.ts";
import type { ParamDef } from "../../compiler/ir/types.ts";
import type { ResolvedEntry } from "../../compiler/pipeline.ts";
import { ADM_INPUTS, type AdmInput } from "../../compiler/training/adm-loss.ts";
import {
  emitTrainStep,
  nextOf,
  stateNames,
  type TrainStepGraph,
  trainStepUnsupported,
} from "../../compiler/training/train-step.ts";
import { InputError, UsageError } from "../../errors.ts";
import { checkpointMetadata, saveWeights } from "../checkpoint/model-checkpoint.ts";
import { DataOrder } from "../data/data-order.ts";
import type { Dataset } from "../data/dataset.ts";
import { GaussianDiffusion } from "../diffusion/ddpm.ts";
import { writePng } from "../images/png.ts";
import { initialValues } from "../init.ts";
import { nhwcToNchw } from "../onnx/layout.ts";
import { Rng } from "../random.ts";
import { learningRate } from "./adam.ts";
import { makeBatch } from "./batch.ts";
import { MetricsLog, progressBar } from "./reporting.ts";
import { loadTrainState, type StateArray, saveTrainStateArrays } from "./train-state.ts";
import { sampleGrid, type TrainOptions, type TrainResult, trainPaths } from "./trainer.ts";

/** Compiles the step graph and opens it with one intra-op thread per core (DIFFIT_ORT_THREADS). */
export async function openTrainStep(
  entry: ResolvedEntry,
  o: Pick<TrainOptions, "batchSize" | "optimizer" | "betas" | "weightDecay" | "gradClip" | "emaDecay">,
  extra: { exposeGradients?: boolean; threads?: number } = {},
): Promise<{ step: TrainStepGraph; session: ort.InferenceSession }> {
  const graph = buildGraph(entry.spec);
  const why = trainStepUnsupported(graph, entry.spec.diffusion);
  if (why) throw new InputError(why);
  const step = emitTrainStep(graph, entry.spec.diffusion, {
    batch: o.batchSize,
    optimizer: o.optimizer,
    betas: o.betas,
    eps: 1e-8,
    weightDecay: o.weightDecay,
    gradClip: o.gradClip,
    emaDecay: o.emaDecay,
    ...(extra.exposeGradients ? { exposeGradients: true } : {}),
  });
  const session = await ort.InferenceSession.create(step.bytes, {
    executionProviders: ["cpu"],
    // One thread per core; DIFFIT_ORT_THREADS overrides it on machines whose cores are shared.
    intraOpNumThreads: extra.threads ?? (Number(process.env.DIFFIT_ORT_THREADS) || cpus().length),
    graphOptimizationLevel: "all",
  });
  return { step, session };
}

/** The ADM loss's per-sample inputs for timestep indices `t`, from the float64 schedule tables. */
export function admFeeds(d: GaussianDiffusion, t: readonly number[]): Record<AdmInput, ort.Tensor> {
  const tables: Record<(typeof ADM_INPUTS)[AdmInput], (i: number) => number> = {
    timestepMap: (i) => d.timestepMap[i] ?? 0,
    sqrtAlphasCumprod: (i) => d.sqrtAlphasCumprod[i] ?? 0,
    sqrtOneMinusAlphasCumprod: (i) => d.sqrtOneMinusAlphasCumprod[i] ?? 0,
    sqrtRecipAlphasCumprod: (i) => d.sqrtRecipAlphasCumprod[i] ?? 0,
    sqrtRecipm1AlphasCumprod: (i) => d.sqrtRecipm1AlphasCumprod[i] ?? 0,
    posteriorMeanCoef1: (i) => d.posteriorMeanCoef1[i] ?? 0,
    posteriorMeanCoef2: (i) => d.posteriorMeanCoef2[i] ?? 0,
    posteriorLogVarianceClipped: (i) => d.posteriorLogVarianceClipped[i] ?? 0,
    logBetas: (i) => Math.log(d.betas[i] ?? 1),
    isFirst: (i) => (i === 0 ? 1 : 0),
  };
  const out: Partial<Record<AdmInput, ort.Tensor>> = {};
  for (const [name, table] of Object.entries(ADM_INPUTS) as [AdmInput, (typeof ADM_INPUTS)[AdmInput]][])
    out[name] = f32(Float32Array.from(t, tables[table]), [t.length]);
  return out as Record<AdmInput, ort.Tensor>;
}

/**
 * The step's dropout masks, drawn by tfjs exactly as the tfjs trainer's forward pass draws them
 * (tf.dropout seeded with the step's seed plus the node id), so both engines drop the same units.
 */
export function dropoutMasks(step: TrainStepGraph, seed: number): Map<string, ort.Tensor> {
  const out = new Map<string, ort.Tensor>();
  for (const d of step.dropouts) {
    const mask = tf.tidy(() => tf.dropout(tf.ones(d.dims), d.rate, undefined, seed + d.node));
    out.set(d.input, f32(mask.dataSync() as Float32Array, d.dims));
    mask.dispose();
  }
  return out;
}

export const ENGINES = ["auto", "onnx", "tfjs"] as const;

/**
 * The engine a run uses: "auto" takes the ONNX engine (several times faster on CPU, see
 * bench/train-results.md) wherever it covers the spec, and tfjs elsewhere, with the reason.
 */
export function chooseEngine(
  entry: ResolvedEntry,
  requested: string,
): { engine: "onnx" | "tfjs"; note: string } {
  if (!(ENGINES as readonly string[]).includes(requested))
    throw new UsageError(`--engine must be one of ${ENGINES.join(", ")}, got ${requested}`);
  if (requested === "tfjs") return { engine: "tfjs", note: "engine: tfjs" };
  const why = trainStepUnsupported(buildGraph(entry.spec), entry.spec.diffusion);
  if (!why)
    return { engine: "onnx", note: "engine: onnx (the training step compiled to ONNX, onnxruntime-node)" };
  if (requested === "onnx") throw new UsageError(why);
  return { engine: "tfjs", note: `engine: tfjs (${why.split(";")[0]})` };
}

const f32 = (data: Float32Array, shape: readonly number[]) => new ort.Tensor("float32", data, [...shape]);
const scalar = (v: number) => new ort.Tensor("float32", Float32Array.of(v), []);

/** The engine's state: every graph input that carries over between steps, by input name. */
export class OnnxTrainState {
  readonly tensors = new Map<string, ort.Tensor>();

  constructor(
    readonly params: readonly ParamDef[],
    values: {
      model: (p: ParamDef) => Float32Array;
      ema: (p: ParamDef) => Float32Array;
      adamM: (p: ParamDef) => Float32Array;
      adamV: (p: ParamDef) => Float32Array;
    },
  ) {
    for (const p of params) {
      this.tensors.set(stateNames.w(p.name), f32(values.model(p), p.shape));
      if (!p.trainable) continue;
      this.tensors.set(stateNames.ema(p.name), f32(values.ema(p), p.shape));
      this.tensors.set(stateNames.m(p.name), f32(values.adamM(p), p.shape));
      this.tensors.set(stateNames.v(p.name), f32(values.adamV(p), p.shape));
    }
  }

  /** Takes the step's `next:` outputs as the new state. */
  advance(outputs: Record<string, ort.Tensor>): void {
    for (const name of this.tensors.keys()) {
      const next = outputs[nextOf(name)];
      if (next) this.tensors.set(name, next);
    }
  }

  private arrays(key: (p: string) => string, trainableOnly: boolean): Map<string, StateArray> {
    const out = new Map<string, StateArray>();
    for (const p of this.params) {
      if (trainableOnly && !p.trainable) continue;
      // Fixed tables have no EMA input: their average is themselves.
      const t = this.tensors.get(key(p.name)) ?? this.tensors.get(stateNames.w(p.name));
      if (!t) throw new Error(`no state for ${p.name}`);
      out.set(p.name, { data: t.data as Float32Array, shape: p.shape });
    }
    return out;
  }

  parts() {
    return {
      model: this.arrays(stateNames.w, false),
      ema: this.arrays(stateNames.ema, false),
      adamM: this.arrays(stateNames.m, true),
      adamV: this.arrays(stateNames.v, true),
    };
  }

  emaWeights(): Map<string, Float32Array> {
    return new Map([...this.arrays(stateNames.ema, false)].map(([n, a]) => [n, a.data]));
  }
}

export async function trainOnnx(entry: ResolvedEntry, data: Dataset, o: TrainOptions): Promise<TrainResult> {
  const spec = entry.spec;
  const diffusion = spec.diffusion;
  if (data.size !== spec.input.size || data.channels !== spec.input.channels) {
    throw new InputError(
      `the data is ${data.size}×${data.size}×${data.channels} but ${entry.name} expects ${spec.input.size}×${spec.input.size}×${spec.input.channels}`,
    );
  }
  mkdirSync(o.outDir, { recursive: true });
  const paths = trainPaths(o.outDir);
  const graph = buildGraph(spec);
  // The whole batch is one graph run: --micro-batch is a tfjs memory knob, and averaging equal
  // micro-batches gives the same gradient as the full batch.
  const { step: compiled, session } = await openTrainStep(entry, o);
  const [B, C, H, W] = compiled.imageDims;
  // EDM: ln σ ~ N(P_mean, P_std²); DDPM: t ~ U{0..T−1}, drawn exactly as the tfjs trainer does.
  const ddpm = diffusion.kind === "ddpm" ? GaussianDiffusion.fromConfig(diffusion) : undefined;
  const level =
    diffusion.kind === "edm"
      ? (r: Rng) => Math.exp(diffusion.pMean + diffusion.pStd * r.normal())
      : (r: Rng) => r.int(diffusion.steps);
  const rng = new Rng(o.seed, "train");
  let order = new DataOrder(data.count, o.seed);
  const metrics = new MetricsLog(paths.metrics);
  let step = 0;
  let adamStep = 0;
  let state: OnnxTrainState;

  if (o.resume) {
    const s = loadTrainState(paths.state, graph, entry.hash);
    const from = (m: Map<string, Float32Array>) => (p: ParamDef) => {
      const v = m.get(p.name);
      if (!v) throw new InputError(`${paths.state} lacks ${p.name}`);
      return v;
    };
    state = new OnnxTrainState(graph.params, {
      model: from(s.model),
      ema: from(s.ema),
      adamM: from(s.adamM),
      adamV: from(s.adamV),
    });
    adamStep = s.progress.adamStep;
    rng.restore(s.progress.rng);
    order = new DataOrder(data.count, o.seed, s.progress.data);
    step = s.progress.step;
    metrics.truncateAfter(step);
  } else {
    const start = (p: ParamDef) => {
      const given = o.init?.get(p.name);
      if (o.init && !given) throw new InputError(`the --init weights lack ${p.name}`);
      return given ?? initialValues(p, o.seed);
    };
    const zeros = (p: ParamDef) => new Float32Array(p.shape.reduce((a, b) => a * b, 1));
    state = new OnnxTrainState(graph.params, { model: start, ema: start, adamM: zeros, adamV: zeros });
    metrics.truncateAfter(-1);
  }

  const batchOptions = {
    flip: o.flip,
    conditional: compiled.conditional,
    nullLabel: spec.conditioning.classes,
    labelDropout: spec.conditioning.labelDropout,
    level,
  };
  const save = () => {
    const progress = { step, adamStep, rng: rng.state(), data: order.snapshot() };
    saveTrainStateArrays(paths.state, entry, state.parts(), progress, { engine: "onnx" });
    saveWeights(paths.ema, state.emaWeights(), graph, {
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
  const bar = progressBar(o.steps, step, o.progress, "train (onnx)");
  const started = performance.now();
  const startStep = step;
  let lastLoss = Number.NaN;
  let lastSaved = step;
  let message: string | undefined;
  const [b1, b2] = o.betas;
  try {
    while (step < o.steps) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (o.maxSeconds !== undefined && (performance.now() - started) / 1000 > o.maxSeconds)
        stopRequested ??= "time-budget";
      if (stopRequested) break;
      const t0 = performance.now();
      const batch = makeBatch(data, order.next(B), rng, batchOptions);
      const lr = learningRate(o.lr, o.warmupSteps, step + 1);
      const feeds: Record<string, ort.Tensor> = {
        x: f32(nhwcToNchw(batch.images, B, H, W, C), [B, C, H, W]),
        noise: f32(nhwcToNchw(batch.noise, B, H, W, C), [B, C, H, W]),
        ...(ddpm ? admFeeds(ddpm, batch.levels) : { sigma: f32(Float32Array.from(batch.levels), [B]) }),
        lr: scalar(lr),
        bc1: scalar(1 - b1 ** (adamStep + 1)),
        bc2: scalar(1 - b2 ** (adamStep + 1)),
      };
      if (batch.labels) feeds.y = new ort.Tensor("int32", batch.labels, [B]);
      for (const [name, mask] of dropoutMasks(compiled, o.seed * 1_000_003 + step)) feeds[name] = mask;
      for (const [name, t] of state.tensors) feeds[name] = t;
      const out = await session.run(feeds);
      const loss = Number(out.loss?.data[0]);
      if (!Number.isFinite(loss)) {
        stopRequested = "non-finite-loss";
        message = `loss became ${loss} at step ${step + 1}; stopped without saving, the last good checkpoint (step ${lastSaved}) is in ${paths.state}. Try a lower --lr or --grad-clip.`;
        break;
      }
      state.advance(out);
      step++;
      adamStep++;
      lastLoss = loss;
      const gradNorm = Number(out.grad_norm?.data[0]);
      const seconds = (performance.now() - t0) / 1000;
      metrics.append({ step, loss, lr, gradNorm, seconds, imagesPerSecond: B / seconds });
      bar.update(step, loss, 1 / seconds);
      if (step % o.checkpointEvery === 0 || step === o.steps) {
        save();
        lastSaved = step;
      }
      if (o.sampleEvery > 0 && step % o.sampleEvery === 0) {
        metrics.writeCurve(paths.lossCurve);
        const { grid } = sampleGrid(entry, state.emaWeights(), o.sampleSteps, o.seed);
        writePng(paths.samples, grid);
        writePng(join(o.outDir, `samples-${String(step).padStart(7, "0")}.png`), grid);
      }
    }
    if ((stopRequested === "interrupted" || stopRequested === "time-budget") && step > lastSaved) save();
    if (step > startStep) metrics.writeCurve(paths.lossCurve);
  } finally {
    bar.stop();
    process.removeListener("SIGINT", onSigint);
    await session.release();
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
