// The ONNX training engine: one compiled graph per step (src/compiler/training/train-step.ts)
// run by onnxruntime-node, inside the loop both engines share (loop.ts): the same seeded batches
// and draws, schedule, metrics, progress bar, sample grids, checkpoint file, Ctrl-C and time-budget
// handling, so a run can switch engines at any checkpoint. State lives as onnxruntime tensors:
// each step's outputs are the next step's inputs, with no copy on the JS side (the per-parameter
// weight inputs are views of the flat weight vector).
import { cpus } from "node:os";
import * as ort from "onnxruntime-node";
import { analyze } from "../../compiler/analysis.ts";
import { ADAM_EPS, adamStepScalars } from "../../compiler/formulas/adam.ts";
import { buildGraph } from "../../compiler/ir/build.ts";
import type { Graph, ParamDef } from "../../compiler/ir/types.ts";
import type { ResolvedEntry } from "../../compiler/pipeline.ts";
import { inversePerm, permute } from "../../compiler/tensor/lower-context.ts";
import { ADM_INPUTS, type AdmInput } from "../../compiler/training/adm-loss.ts";
import type { StoredParam } from "../../compiler/training/param-inputs.ts";
import {
  type DropoutInput,
  emitTrainStep,
  FLAT_GRAD,
  FLAT_STATE,
  type FlatState,
  nextOf,
  paramInput,
  type StateLayout,
  type TrainStepGraph,
  type TrainStepOptions,
  trainStepUnsupported,
} from "../../compiler/training/train-step.ts";
import { InputError, UsageError } from "../../errors.ts";
import type { Dataset } from "../data/dataset.ts";
import { GaussianDiffusion } from "../diffusion/ddpm.ts";
import { initialValues } from "../init.ts";
import { withTemporaryExport } from "../onnx/export-model.ts";
import { nhwcToNchw } from "../onnx/layout.ts";
import { onnxSamples, sampleWithOnnx } from "../onnx/onnx-sampler.ts";
import type { Batch } from "./batch.ts";
import { drawDropoutMasks } from "./dropout-mask.ts";
import type { GridSamples } from "./grid-picture.ts";
import { runTraining, type TrainOptions, type TrainResult } from "./loop.ts";
import { type GradientOutputs, openRunners } from "./replicas.ts";
import type { StateArray } from "./train-state.ts";
import { gridLayout, sampleGrid } from "./trainer.ts";

/** A step's FLOPs (6 per MAC: forward and backward) per model IR node: how large its ops are. */
export function stepFlopsPerNode(graph: Graph, batch: number): number {
  return (6 * analyze(graph).totals.macs * batch) / graph.nodes.length;
}

/** FLOPs per model IR node above which a step's ops are large enough to share out across threads. */
export const WIDE_STEP_FLOPS_PER_NODE = 4e8;

/** Intra-op threads of a step run as one session: every core for a wide step, one fewer otherwise. */
function sessionThreads(cores: number, flopsPerNode: number): number {
  return flopsPerNode >= WIDE_STEP_FLOPS_PER_NODE ? cores : Math.max(1, cores - 1);
}

/** DIFFIT_ORT_THREADS, when set to a positive number. */
const envThreads = () => Number(process.env.DIFFIT_ORT_THREADS) || undefined;

/**
 * How a step uses the cores. onnxruntime splits each op across its intra-op threads, which pays
 * when the ops are large: diffit-cifar10 (batch 8, ~1 GFLOP per IR node) runs 1.5–1.8× faster on
 * both cores of the 2-core bench machine than on one, and 2 replicas are slower. A narrow model's
 * thousands of small ops gain little or lose from a second thread (tiny-fmnist, batch 64, ~0.13
 * GFLOP per node: 426 ms on one thread and 396 on two in one bench, 464 and 500 in the next); it
 * runs as one single-threaded replica per core on an even split of the batch instead (replicas.ts:
 * 204–208 ms), or, if the batch does not split evenly, on one thread per core but one.
 * `requested` (DIFFIT_ORT_REPLICAS or TrainOptions.replicas) overrides.
 */
export function stepParallelism(
  cores: number,
  flopsPerNode: number,
  batch: number,
  requested?: number,
): { replicas: number; threads: number } {
  const wide = flopsPerNode >= WIDE_STEP_FLOPS_PER_NODE;
  const oneSession = { replicas: 1, threads: sessionThreads(cores, flopsPerNode) };
  if (requested !== undefined) {
    if (!Number.isInteger(requested) || requested < 1 || batch % requested !== 0)
      throw new UsageError(
        `--replicas must be a whole number that divides the batch (${batch}), got ${requested}`,
      );
    return requested === 1 ? oneSession : { replicas: requested, threads: 1 };
  }
  if (!wide && cores > 1 && batch % cores === 0) return { replicas: cores, threads: 1 };
  return oneSession;
}

/**
 * Compiles the step graph and opens it on `extra.threads` intra-op threads, else DIFFIT_ORT_THREADS,
 * else every core for a wide step and one fewer for a narrow one (see stepParallelism).
 */
export async function openTrainStep(
  entry: ResolvedEntry,
  o: Pick<TrainOptions, "batchSize" | "optimizer" | "betas" | "weightDecay" | "gradClip" | "emaDecay">,
  extra: {
    exposeGradients?: boolean;
    threads?: number;
    part?: TrainStepOptions["part"];
    /** Record onnxruntime's per-kernel profile into a file with this prefix. */
    profile?: string;
  } = {},
): Promise<{ step: TrainStepGraph; session: ort.InferenceSession }> {
  const graph = buildGraph(entry.spec);
  const why = trainStepUnsupported(graph);
  if (why) throw new InputError(why);
  const step = emitTrainStep(graph, entry.spec.diffusion, {
    batch: o.batchSize,
    optimizer: o.optimizer,
    betas: o.betas,
    eps: ADAM_EPS,
    weightDecay: o.weightDecay,
    gradClip: o.gradClip,
    emaDecay: o.emaDecay,
    ...(extra.exposeGradients ? { exposeGradients: true } : {}),
    ...(extra.part ? { part: extra.part } : {}),
  });
  const session = await ort.InferenceSession.create(step.bytes, {
    executionProviders: ["cpu"],
    intraOpNumThreads:
      extra.threads ?? envThreads() ?? sessionThreads(cpus().length, stepFlopsPerNode(graph, o.batchSize)),
    graphOptimizationLevel: "all",
    ...(extra.profile ? { enableProfiling: true, profileFilePrefix: extra.profile } : {}),
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
    logBetas: (i) => d.logBetas[i] ?? 0,
    isFirst: (i) => (i === 0 ? 1 : 0),
  };
  const out: Partial<Record<AdmInput, ort.Tensor>> = {};
  for (const [name, table] of Object.entries(ADM_INPUTS) as [AdmInput, (typeof ADM_INPUTS)[AdmInput]][])
    out[name] = f32(Float32Array.from(t, tables[table]), [t.length]);
  return out as Record<AdmInput, ort.Tensor>;
}

/**
 * The step's dropout masks, equal to those the tfjs trainer's forward pass draws (tf.dropout
 * seeded with the step's seed plus the node id; see dropout-mask.ts), so both engines drop the
 * same units. Drawn once per step into buffers kept from step to step: on diffit-cifar10 that
 * is 26 M units, and fresh memory for them cost as much as drawing them.
 */
export class DropoutMasks {
  /** Each dropout input with its units per sample and its buffer. */
  private readonly masks: (DropoutInput & { per: number; data: Float32Array })[];

  /** `rows` samples of every mask: the whole batch, of which replicas take slices. */
  constructor(step: TrainStepGraph, rows: number = step.imageDims[0]) {
    this.masks = step.dropouts.map((d) => {
      const per = d.dims.slice(1).reduce((a, b) => a * b, 1);
      return { ...d, per, data: new Float32Array(per * rows) };
    });
  }

  /** Redraws every mask for the step seeded `seed`. */
  draw(seed: number): this {
    drawDropoutMasks(this.masks.map((m) => ({ rate: m.rate, seed: seed + m.node, out: m.data })));
    return this;
  }

  /** The masks as feeds: views of rows lo..hi of each, or the whole. */
  feeds(rows?: { lo: number; hi: number }): Record<string, ort.Tensor> {
    const out: Record<string, ort.Tensor> = {};
    for (const m of this.masks) {
      const data = rows ? m.data.subarray(rows.lo * m.per, rows.hi * m.per) : m.data;
      out[m.input] = f32(data, [data.length / m.per, ...m.dims.slice(1)]);
    }
    return out;
  }
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

/** Initial state values, per parameter in the IR (checkpoint) layout. */
export interface StateValues {
  model: (p: ParamDef) => Float32Array;
  ema: (p: ParamDef) => Float32Array;
  adamM: (p: ParamDef) => Float32Array;
  adamV: (p: ParamDef) => Float32Array;
}

const isFlatState = (name: string): name is FlatState => (FLAT_STATE as readonly string[]).includes(name);
/** The flat vector each next:<state> output refills. */
const NEXT_STATE = new Map(FLAT_STATE.map((s) => [nextOf(s), s]));

/** IR-layout values in a parameter's stored layout, and back (a copy: the state's views get overwritten). */
const toStored = (s: StoredParam, v: Float32Array) => (s.perm ? permute(v, s.shape, s.perm) : v);
const fromStored = (s: StoredParam, v: Float32Array) =>
  s.perm ? permute(v, s.dims, inversePerm(s.perm)) : v.slice();

/**
 * The engine's state. The step writes its next state straight into a second set of flat vectors
 * (preallocated outputs), and the two sets swap: onnxruntime-node copies every output it
 * allocates into fresh JavaScript memory, and the page faults of that memory cost a wide model
 * more than its optimizer update (diffit-cifar10: 450 MB of state per step).
 */
export class OnnxTrainState {
  /** The flat vectors: trainable parameters end to end, in their stored layouts. */
  private flat: Record<FlatState, ort.Tensor>;
  /** Where the step writes the next flat vectors. */
  private spare: Record<FlatState, ort.Tensor>;
  /** w:<p> for every parameter: views of the flat w for trainable ones. */
  private weights = new Map<string, ort.Tensor>();

  constructor(
    readonly params: readonly ParamDef[],
    readonly layout: StateLayout,
    values: StateValues,
  ) {
    const byName = new Map(params.map((p) => [p.name, p]));
    const paramOf = (s: StoredParam) => {
      const p = byName.get(s.name);
      if (!p) throw new Error(`the state layout names an unknown parameter ${s.name}`);
      return p;
    };
    const flatOf = (value: (p: ParamDef) => Float32Array) => {
      const out = new Float32Array(layout.size);
      for (const s of layout.trainable) out.set(toStored(s, value(paramOf(s))), s.offset);
      return f32(out, [layout.size]);
    };
    this.flat = {
      w: flatOf(values.model),
      m: flatOf(values.adamM),
      v: flatOf(values.adamV),
      ema: flatOf(values.ema),
    };
    const empty = () => f32(new Float32Array(layout.size), [layout.size]);
    this.spare = { w: empty(), m: empty(), v: empty(), ema: empty() };
    for (const s of layout.fixed)
      this.weights.set(paramInput(s.name), f32(toStored(s, values.model(paramOf(s))), s.dims));
    this.viewWeights();
  }

  private viewWeights(): void {
    const w = this.flat.w.data as Float32Array;
    for (const s of this.layout.trainable)
      this.weights.set(paramInput(s.name), f32(w.subarray(s.offset, s.offset + s.size), s.dims));
  }

  /** `feeds` plus the state tensors among `names`. */
  feed(names: readonly string[], feeds: Record<string, ort.Tensor>): Record<string, ort.Tensor> {
    for (const name of names) {
      const t = this.weights.get(name) ?? (isFlatState(name) ? this.flat[name] : undefined);
      if (t) feeds[name] = t;
    }
    return feeds;
  }

  /** The outputs to fetch: next:<state> into the spare vectors, the rest (null) allocated by onnxruntime. */
  fetches(names: readonly string[]): Record<string, ort.Tensor | null> {
    const out: Record<string, ort.Tensor | null> = {};
    for (const name of names) {
      const state = NEXT_STATE.get(name);
      out[name] = state ? this.spare[state] : null;
    }
    return out;
  }

  /** Makes the vectors the last run wrote (see fetches) the state. */
  advance(): void {
    [this.flat, this.spare] = [this.spare, this.flat];
    this.viewWeights();
  }

  /** One flat vector back in the IR layout, per trainable parameter (copies). */
  private unflatten(name: FlatState): Map<string, StateArray> {
    const data = this.flat[name].data as Float32Array;
    const out = new Map<string, StateArray>();
    for (const s of this.layout.trainable)
      out.set(s.name, { data: fromStored(s, data.subarray(s.offset, s.offset + s.size)), shape: s.shape });
    return out;
  }

  parts() {
    const fixed = new Map<string, StateArray>();
    for (const s of this.layout.fixed) {
      const v = this.weights.get(paramInput(s.name))?.data as Float32Array;
      fixed.set(s.name, { data: fromStored(s, v), shape: s.shape });
    }
    // Fixed tables have no EMA: their average is themselves. Maps in the model's parameter order.
    const inOrder = (m: Map<string, StateArray>, withFixed: boolean) => {
      const out = new Map<string, StateArray>();
      for (const p of this.params) {
        const a = m.get(p.name) ?? (withFixed ? fixed.get(p.name) : undefined);
        if (a) out.set(p.name, a);
      }
      return out;
    };
    return {
      model: inOrder(this.unflatten("w"), true),
      ema: inOrder(this.unflatten("ema"), true),
      adamM: inOrder(this.unflatten("m"), false),
      adamV: inOrder(this.unflatten("v"), false),
    };
  }
}

/** The step's inputs that come from the batch: images, noise, noise levels, labels, and the drawn dropout masks. */
function batchFeeds(
  compiled: TrainStepGraph,
  batch: Batch,
  ddpm: GaussianDiffusion | undefined,
  masks: Record<string, ort.Tensor>,
): Record<string, ort.Tensor> {
  const [B, C, H, W] = compiled.imageDims;
  const feeds: Record<string, ort.Tensor> = {
    x: f32(nhwcToNchw(batch.images, B, H, W, C), [B, C, H, W]),
    noise: f32(nhwcToNchw(batch.noise, B, H, W, C), [B, C, H, W]),
    ...(ddpm ? admFeeds(ddpm, batch.levels) : { sigma: f32(Float32Array.from(batch.levels), [B]) }),
    ...masks,
  };
  if (batch.labels) feeds.y = new ort.Tensor("int32", batch.labels, [B]);
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

/** What the ONNX engine's step needs of the run's options. */
export type StepperOptions = Pick<
  TrainOptions,
  | "batchSize"
  | "microBatch"
  | "replicas"
  | "optimizer"
  | "betas"
  | "weightDecay"
  | "gradClip"
  | "emaDecay"
  | "seed"
> & {
  /** Intra-op threads of a single-session step (default: see openTrainStep). */
  threads?: number;
  /** Profile the step's session (the main replica's, when sliced) into a file with this prefix. */
  profile?: string;
};

export interface OnnxStepper {
  /** One optimizer step on `batch`; a non-finite loss leaves the state untouched. */
  step(batch: Batch, step: number, lr: number): Promise<{ loss: number; gradNorm: number }>;
  adamStep(): number;
  /** The state in the IR layout, per parameter (as the tfjs engine's checkpoints hold it). */
  parts(): ReturnType<OnnxTrainState["parts"]>;
  /** The sessions' layout. */
  plan: StepPlan;
  /** Ends a profiled run (StepperOptions.profile), writing the profile to `<profile>_<time>.json`. */
  endProfiling(): void;
  dispose(): Promise<void>;
}

/** How the engine lays out a step: micro-batches, data-parallel replicas, slices, threads. */
export interface StepPlan {
  /** The user's micro-batches (1: none). */
  parts: number;
  replicas: number;
  /** Intra-op threads per session. */
  threads: number;
  /** Gradient-graph runs per step, and the samples of each. */
  slices: number;
  sliceSize: number;
}

export function planStep(entry: ResolvedEntry, o: StepperOptions): StepPlan {
  // Micro-batches as the tfjs engine splits them; the gradient graph has one static batch size,
  // so the split must be even.
  const parts = Math.ceil(o.batchSize / Math.max(1, Math.min(o.microBatch, o.batchSize)));
  const micro = Math.ceil(o.batchSize / parts);
  if (parts > 1 && micro * parts !== o.batchSize) {
    throw new InputError(
      `the ONNX engine splits a batch of ${o.batchSize} into ${parts} micro-batches only if they are equal (${micro} does not divide it); choose a --micro-batch that divides --batch`,
    );
  }
  const requested = o.replicas ?? (Number(process.env.DIFFIT_ORT_REPLICAS) || undefined);
  const { replicas, threads } = stepParallelism(
    cpus().length,
    stepFlopsPerNode(buildGraph(entry.spec), o.batchSize),
    parts > 1 ? parts : o.batchSize,
    requested,
  );
  const slices = parts > 1 ? parts : replicas;
  return {
    parts,
    replicas,
    threads: o.threads ?? envThreads() ?? threads,
    slices,
    sliceSize: o.batchSize / slices,
  };
}

/** The plan in words, for the CLI. */
export function describePlan(p: StepPlan): string {
  const split =
    p.slices === 1
      ? "the whole batch"
      : `${p.slices} slices of ${p.sliceSize}${p.parts > 1 ? " (micro-batches)" : ""}`;
  const sessions = p.replicas > 1 ? `${p.replicas} data-parallel replicas (worker threads)` : "1 session";
  const threads = `${p.threads} thread${p.threads === 1 ? "" : "s"}`;
  return `onnx step: ${sessions} × ${threads}, ${split} (--replicas, DIFFIT_ORT_THREADS override)`;
}

/**
 * The engine's step over `state`: one session for the whole step, or the gradient graph run
 * once per slice of the batch (the user's micro-batches, or one slice per data-parallel replica,
 * side by side) and the update graph on the mean gradient.
 */
export async function openOnnxStepper(
  entry: ResolvedEntry,
  o: StepperOptions,
  values: StateValues,
  adamStep0: number,
): Promise<OnnxStepper> {
  const diffusion = entry.spec.diffusion;
  const ddpm = diffusion.kind === "ddpm" ? GaussianDiffusion.fromConfig(diffusion) : undefined;
  const plan = planStep(entry, o);
  const { parts, replicas, slices, sliceSize: size } = plan;
  let adamStep = adamStep0;
  const schedule = (lr: number) => {
    const k = adamStepScalars(o, lr, adamStep + 1);
    return { lr: scalar(k.lr), bc1: scalar(k.bc1), bc2: scalar(k.bc2) };
  };
  const stateOf = (compiled: TrainStepGraph) => {
    if (!compiled.layout) throw new Error("the step graph has no state layout");
    return new OnnxTrainState(buildGraph(entry.spec).params, compiled.layout, values);
  };
  const run = (state: OnnxTrainState, session: ort.InferenceSession, feeds: Record<string, ort.Tensor>) =>
    session.run(state.feed(session.inputNames, feeds), state.fetches(session.outputNames));
  const finish = (state: OnnxTrainState, out: ort.InferenceSession.OnnxValueMapType, loss: number) => {
    state.advance();
    adamStep++;
    return { loss, gradNorm: Number(out.grad_norm?.data[0]) };
  };

  if (parts === 1 && replicas === 1) {
    const { step: compiled, session } = await openTrainStep(entry, o, {
      threads: plan.threads,
      profile: o.profile,
    });
    const state = stateOf(compiled);
    const masks = new DropoutMasks(compiled);
    return {
      async step(batch, step, lr) {
        const feeds = {
          ...batchFeeds(compiled, batch, ddpm, masks.draw(o.seed * 1_000_003 + step).feeds()),
          ...schedule(lr),
        };
        const out = await run(state, session, feeds);
        const loss = Number(out.loss?.data[0]);
        // A non-finite loss keeps the previous state: the outputs are dropped.
        return Number.isFinite(loss) ? finish(state, out, loss) : { loss, gradNorm: Number.NaN };
      },
      adamStep: () => adamStep,
      parts: () => state.parts(),
      plan,
      endProfiling: () => session.endProfiling(),
      dispose: () => session.release(),
    };
  }
  // Slices: the user's micro-batches, or an even split of the batch across replicas. The
  // gradient graph runs once per slice (replicas side by side), then the mean gradient goes into
  // the update graph, as accumulateGradients averages them (sum in order, then divide).
  const grads = await openTrainStep(
    entry,
    { ...o, batchSize: size },
    { part: "gradients", threads: plan.threads, profile: o.profile },
  );
  const runners = await openRunners(grads.session, grads.step.bytes, replicas, plan.threads);
  const update = await openTrainStep(entry, o, { part: "update" });
  const state = stateOf(grads.step);
  const [, C, H, W] = grads.step.imageDims;
  const per = C * H * W;
  // The tfjs engine seeds every micro-batch's dropout alike, so user micro-batches share one
  // slice-sized set of masks; replicas of an unsplit batch take their rows of the batch's masks.
  const masks = new DropoutMasks(grads.step, parts > 1 ? size : o.batchSize);
  const mean = new Float32Array(state.layout.size);
  return {
    async step(batch, step, lr) {
      masks.draw(o.seed * 1_000_003 + step);
      const feedsOf = (i: number) => {
        const [lo, hi] = [i * size, (i + 1) * size];
        const sliceMasks = masks.feeds(parts > 1 ? undefined : { lo, hi });
        return state.feed(
          grads.session.inputNames,
          batchFeeds(grads.step, sliceBatch(batch, lo, hi, per), ddpm, sliceMasks),
        );
      };
      const outs: GradientOutputs[] = [];
      for (let i = 0; i < slices; i += runners.length) {
        const wave = runners.slice(0, Math.min(runners.length, slices - i));
        outs.push(...(await Promise.all(wave.map((r, j) => r.run(feedsOf(i + j))))));
      }
      let lossSum = 0;
      mean.fill(0);
      for (const out of outs) {
        lossSum += Number(out.loss?.data[0]);
        const g = out[FLAT_GRAD]?.data;
        if (!g || g.length !== mean.length) throw new Error("a gradient slice returned no flat gradient");
        for (let k = 0; k < mean.length; k++) mean[k] = (mean[k] ?? 0) + (g[k] ?? 0);
      }
      const loss = lossSum / slices;
      if (!Number.isFinite(loss)) return { loss, gradNorm: Number.NaN };
      for (let k = 0; k < mean.length; k++) mean[k] = (mean[k] ?? 0) / slices;
      const feeds: Record<string, ort.Tensor> = { ...schedule(lr), [FLAT_GRAD]: f32(mean, [mean.length]) };
      return finish(state, await run(state, update.session, feeds), loss);
    },
    adamStep: () => adamStep,
    parts: () => state.parts(),
    plan,
    endProfiling: () => grads.session.endProfiling(),
    dispose: async () => {
      for (const r of runners) await r.release();
      await update.session.release();
    },
  };
}

/**
 * The training grid on ONNX Runtime, as `diffit sample` draws it (same noise as the tfjs grid):
 * the EMA weights exported to a temporary file, sampled, the file removed. For diffit-cifar10 the
 * tfjs grid took minutes, a sizeable share of the time between grids. DDPM specs keep tfjs.
 */
async function onnxGrid(
  entry: ResolvedEntry,
  weights: Map<string, Float32Array>,
  steps: number,
  seed: number,
): Promise<GridSamples> {
  const spec = entry.spec;
  const sampler = spec.sampling.sampler;
  if (!onnxSamples(spec, sampler)) return sampleGrid(entry, weights, steps, seed);
  const { labels, count, columns } = gridLayout(spec);
  const { images } = await withTemporaryExport(entry, weights, (path) =>
    sampleWithOnnx(path, spec, count, {
      sampler,
      steps,
      seed,
      guidance: { ...spec.sampling.guidance },
      ...(labels ? { labels } : {}),
    }),
  );
  return { values: images, count, columns };
}

export async function trainOnnx(entry: ResolvedEntry, data: Dataset, o: TrainOptions): Promise<TrainResult> {
  const grid = (weights: Map<string, Float32Array>) => onnxGrid(entry, weights, o.sampleSteps, o.seed);
  return runTraining(
    entry,
    data,
    o,
    async (_graph, resumed) => {
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
      const values: StateValues = {
        model: from(resumed?.model, start),
        ema: from(resumed?.ema, start),
        adamM: from(resumed?.adamM, zeros),
        adamV: from(resumed?.adamV, zeros),
      };
      const stepper = await openOnnxStepper(entry, o, values, resumed?.progress.adamStep ?? 0);
      return {
        step: (batch, step, lr) => stepper.step(batch, step, lr),
        adamStep: () => stepper.adamStep(),
        state: () => stepper.parts(),
        dispose: () => stepper.dispose(),
      };
    },
    grid,
    "train (onnx)",
  );
}
