// The ONNX training engine: one compiled graph per step (src/compiler/training/train-step.ts)
// run by onnxruntime-node, inside the loop both engines share (loop.ts): the same seeded batches
// and draws, schedule, metrics, progress bar, sample grids, checkpoint file, Ctrl-C and time-budget
// handling, so a run can switch engines at any checkpoint. State lives as onnxruntime tensors:
// each step's outputs are the next step's inputs, with no copy on the JS side.
import { cpus } from "node:os";
import * as tf from "@tensorflow/tfjs";
import * as ort from "onnxruntime-node";
import { analyze } from "../../compiler/analysis.ts";
import { buildGraph } from "../../compiler/ir/build.ts";
import type { ParamDef } from "../../compiler/ir/types.ts";
import type { ResolvedEntry } from "../../compiler/pipeline.ts";
import { ADM_INPUTS, type AdmInput } from "../../compiler/training/adm-loss.ts";
import {
  emitTrainStep,
  gradOutput,
  nextOf,
  stateNames,
  type TrainStepGraph,
  type TrainStepOptions,
  trainStepUnsupported,
} from "../../compiler/training/train-step.ts";
import { InputError, UsageError } from "../../errors.ts";
import type { Dataset } from "../data/dataset.ts";
import { GaussianDiffusion } from "../diffusion/ddpm.ts";
import { initialValues } from "../init.ts";
import { nhwcToNchw } from "../onnx/layout.ts";
import type { Batch } from "./batch.ts";
import { runTraining, type TrainOptions, type TrainResult } from "./loop.ts";
import type { StateArray } from "./train-state.ts";
import { sampleGrid } from "./trainer.ts";

/** FLOPs per node of a step above which every core pays off (see stepThreads). */
export const WIDE_STEP_FLOPS_PER_NODE = 1e7;

/**
 * Intra-op threads for a step graph. onnxruntime splits each op across its threads, which pays
 * when the ops are large: diffit-cifar10 (batch 8, ~20 MFLOP per node) ran 21 % faster on both
 * cores of the 2-core bench machine than on one. A narrow model's thousands of small ops lose
 * more to the threads' synchronisation than they gain (tiny-fmnist, ~3 MFLOP per node: 349 ms
 * on one thread, 427 on two), so those leave one core to Node's own thread.
 */
export function stepThreads(cores: number, flopsPerNode: number): number {
  return flopsPerNode >= WIDE_STEP_FLOPS_PER_NODE ? cores : Math.max(1, cores - 1);
}

/** Compiles the step graph and opens it (threads: `extra.threads`, DIFFIT_ORT_THREADS, or stepThreads). */
export async function openTrainStep(
  entry: ResolvedEntry,
  o: Pick<TrainOptions, "batchSize" | "optimizer" | "betas" | "weightDecay" | "gradClip" | "emaDecay">,
  extra: { exposeGradients?: boolean; threads?: number; part?: TrainStepOptions["part"] } = {},
): Promise<{ step: TrainStepGraph; session: ort.InferenceSession }> {
  const graph = buildGraph(entry.spec);
  const why = trainStepUnsupported(graph);
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
    ...(extra.part ? { part: extra.part } : {}),
  });
  const flopsPerNode = (6 * analyze(graph).totals.macs * o.batchSize) / step.nodeCount;
  const session = await ort.InferenceSession.create(step.bytes, {
    executionProviders: ["cpu"],
    intraOpNumThreads:
      extra.threads ?? (Number(process.env.DIFFIT_ORT_THREADS) || stepThreads(cpus().length, flopsPerNode)),
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
  const why = trainStepUnsupported(buildGraph(entry.spec));
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
}

/** The step's inputs that come from the batch: images, noise, noise levels, labels, dropout masks. */
function batchFeeds(
  compiled: TrainStepGraph,
  batch: Batch,
  ddpm: GaussianDiffusion | undefined,
  dropoutSeed: number,
): Record<string, ort.Tensor> {
  const [B, C, H, W] = compiled.imageDims;
  const feeds: Record<string, ort.Tensor> = {
    x: f32(nhwcToNchw(batch.images, B, H, W, C), [B, C, H, W]),
    noise: f32(nhwcToNchw(batch.noise, B, H, W, C), [B, C, H, W]),
    ...(ddpm ? admFeeds(ddpm, batch.levels) : { sigma: f32(Float32Array.from(batch.levels), [B]) }),
  };
  if (batch.labels) feeds.y = new ort.Tensor("int32", batch.labels, [B]);
  for (const [name, mask] of dropoutMasks(compiled, dropoutSeed)) feeds[name] = mask;
  return feeds;
}

/** Samples lo..hi of a batch (a micro-batch), as views. */
function sliceBatch(batch: Batch, lo: number, hi: number, per: number): Batch {
  return {
    images: batch.images.subarray(lo * per, hi * per),
    noise: batch.noise.subarray(lo * per, hi * per),
    labels: batch.labels?.subarray(lo, hi),
    levels: batch.levels.slice(lo, hi),
  };
}

export async function trainOnnx(entry: ResolvedEntry, data: Dataset, o: TrainOptions): Promise<TrainResult> {
  const diffusion = entry.spec.diffusion;
  const ddpm = diffusion.kind === "ddpm" ? GaussianDiffusion.fromConfig(diffusion) : undefined;
  const grid = (weights: Map<string, Float32Array>) => sampleGrid(entry, weights, o.sampleSteps, o.seed).grid;
  // Micro-batches as the tfjs engine splits them; the gradient graph has one static batch size,
  // so the split must be even.
  const parts = Math.ceil(o.batchSize / Math.max(1, Math.min(o.microBatch, o.batchSize)));
  const micro = Math.ceil(o.batchSize / parts);
  if (parts > 1 && micro * parts !== o.batchSize) {
    throw new InputError(
      `the ONNX engine splits a batch of ${o.batchSize} into ${parts} micro-batches only if they are equal (${micro} does not divide it); choose a --micro-batch that divides --batch`,
    );
  }
  return runTraining(
    entry,
    data,
    o,
    async (graph, resumed) => {
      const zeros = (p: ParamDef) => new Float32Array(p.shape.reduce((a, b) => a * b, 1));
      const start = (p: ParamDef) => {
        const given = o.init?.get(p.name);
        if (o.init && !given) throw new InputError(`the --init weights lack ${p.name}`);
        return given ?? initialValues(p, o.seed);
      };
      const from =
        (m: Map<string, Float32Array> | undefined, fallback: (p: ParamDef) => Float32Array) =>
        (p: ParamDef) =>
          m?.get(p.name) ?? fallback(p);
      const state = new OnnxTrainState(graph.params, {
        model: from(resumed?.model, start),
        ema: from(resumed?.ema, start),
        adamM: from(resumed?.adamM, zeros),
        adamV: from(resumed?.adamV, zeros),
      });
      let adamStep = resumed?.progress.adamStep ?? 0;
      const [b1, b2] = o.betas;
      const schedule = (lr: number) => ({
        lr: scalar(lr),
        bc1: scalar(1 - b1 ** (adamStep + 1)),
        bc2: scalar(1 - b2 ** (adamStep + 1)),
      });
      /** Runs `session` on `feeds` plus the state tensors it takes. */
      const run = (session: ort.InferenceSession, feeds: Record<string, ort.Tensor>) => {
        for (const name of session.inputNames) {
          const t = state.tensors.get(name);
          if (t) feeds[name] = t;
        }
        return session.run(feeds);
      };
      const finish = (out: ort.InferenceSession.OnnxValueMapType, loss: number) => {
        state.advance(out);
        adamStep++;
        return { loss, gradNorm: Number(out.grad_norm?.data[0]) };
      };

      if (parts === 1) {
        const { step: compiled, session } = await openTrainStep(entry, o);
        return {
          async step(batch, step, lr) {
            const feeds = {
              ...batchFeeds(compiled, batch, ddpm, o.seed * 1_000_003 + step),
              ...schedule(lr),
            };
            const out = await run(session, feeds);
            const loss = Number(out.loss?.data[0]);
            // A non-finite loss keeps the previous state: the outputs are dropped.
            return Number.isFinite(loss) ? finish(out, loss) : { loss, gradNorm: Number.NaN };
          },
          adamStep: () => adamStep,
          state: () => state.parts(),
          dispose: () => session.release(),
        };
      }

      // Micro-batches: the gradient graph once per micro-batch, the mean gradient into the update
      // graph, as accumulateGradients averages them (sum in order, then divide).
      const grads = await openTrainStep(entry, { ...o, batchSize: micro }, { part: "gradients" });
      const update = await openTrainStep(entry, o, { part: "update" });
      const [, C, H, W] = grads.step.imageDims;
      const per = C * H * W;
      return {
        async step(batch, step, lr) {
          let lossSum = 0;
          const sums = new Map<string, Float32Array>();
          for (let i = 0; i < parts; i++) {
            const slice = sliceBatch(batch, i * micro, (i + 1) * micro, per);
            // The tfjs engine seeds every micro-batch's dropout alike: the same masks here.
            const out = await run(
              grads.session,
              batchFeeds(grads.step, slice, ddpm, o.seed * 1_000_003 + step),
            );
            lossSum += Number(out.loss?.data[0]);
            for (const p of grads.step.trainable) {
              const g = out[gradOutput(p.name)]?.data as Float32Array;
              const acc = sums.get(p.name);
              if (!acc) sums.set(p.name, Float32Array.from(g));
              else for (let k = 0; k < acc.length; k++) acc[k] = (acc[k] ?? 0) + (g[k] ?? 0);
            }
          }
          const loss = lossSum / parts;
          if (!Number.isFinite(loss)) return { loss, gradNorm: Number.NaN };
          const feeds: Record<string, ort.Tensor> = schedule(lr);
          for (const p of grads.step.trainable) {
            const mean = (sums.get(p.name) ?? new Float32Array()).map((v) => v / parts);
            feeds[gradOutput(p.name)] = f32(mean, p.shape);
          }
          return finish(await run(update.session, feeds), loss);
        },
        adamStep: () => adamStep,
        state: () => state.parts(),
        dispose: async () => {
          await grads.session.release();
          await update.session.release();
        },
      };
    },
    grid,
    "train (onnx)",
  );
}
