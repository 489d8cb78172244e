// The training loop both engines share: seeded batches and draws, resume, the warm-up schedule,
// metrics, the progress bar, periodic atomic checkpoints and sample grids, a clean stop on Ctrl-C
// or a time budget, and a hard stop (keeping the last good checkpoint) on a non-finite loss.
// An engine supplies only the state and one optimisation step (tfjs: trainer.ts, ONNX:
// onnx-engine.ts), so both behave alike and write the same files.
import { join } from "node:path";
import { edmTrainingSigma } from "../../compiler/formulas/edm.ts";
import { numberOps } from "../../compiler/formulas/scalar-ops.ts";
import { buildGraph } from "../../compiler/ir/build.ts";
import type { Graph } from "../../compiler/ir/types.ts";
import type { ResolvedEntry } from "../../compiler/pipeline.ts";
import { InputError } from "../../errors.ts";
import { checkpointMetadata, saveWeights } from "../checkpoint/model-checkpoint.ts";
import { DataOrder } from "../data/data-order.ts";
import type { Dataset } from "../data/dataset.ts";
import { writePng } from "../images/png.ts";
import { lockOutputFolder } from "../output-lock.ts";
import { Rng } from "../random.ts";
import { type StopRequests, type StopSignal, signalName, watchStopSignals } from "../signals.ts";
import { WriteError, writingTo } from "../write-error.ts";
import { learningRate } from "./adam.ts";
import { type Batch, makeBatch } from "./batch.ts";
import { type GridDecoder, type GridSamples, gridPicture } from "./grid-picture.ts";
import { MetricsLog, progressBar, timeBudgetBar } from "./reporting.ts";
import {
  type LoadedState,
  loadTrainState,
  type StateArray,
  type StateParts,
  saveTrainStateArrays,
} from "./train-state.ts";

export interface TrainOptions {
  /**
   * The step to train up to (a resumed run continues towards the same total); Infinity with
   * maxSeconds trains until the time budget is spent.
   */
  steps: number;
  batchSize: number;
  /** Samples per forward/backward pass; gradients of a step are averaged over micro-batches. */
  microBatch: number;
  /** ONNX engine: data-parallel replicas of the step (undefined: chosen per model and machine). */
  replicas?: number;
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
  init?: Map<string, Float32Array>;
  flip: boolean;
  progress: boolean;
  /** Latent specs: decode the grids' latents with this VAE decoder before writing them. */
  vaeDecoder?: GridDecoder;
  /** Stop (and checkpoint) after this many seconds. */
  maxSeconds?: number;
  /** Where notes for the user go (a resume with other settings, say). */
  log?: (line: string) => void;
}

/**
 * The settings besides the spec (whose hash the state already checks) that shape a run's
 * trajectory. The state records them, so a resume under other settings can say it will not
 * equal an uninterrupted run instead of diverging silently.
 */
function trajectorySettings(o: TrainOptions, images: number): Record<string, unknown> {
  const { batchSize, microBatch, lr, warmupSteps, gradClip, emaDecay, seed, flip } = o;
  return { batchSize, microBatch, lr, warmupSteps, gradClip, emaDecay, seed, flip, images };
}

const SETTING_FLAGS: Record<string, string> = {
  batchSize: "--batch",
  microBatch: "--micro-batch",
  lr: "--lr",
  warmupSteps: "--warmup",
  gradClip: "--grad-clip",
  emaDecay: "--ema",
  seed: "--seed",
  flip: "--flip",
  images: "training images",
};

const wholeBatch = (r: Record<string, unknown>) => r.microBatch === r.batchSize;

/** "--batch 16 (was 8), --lr 0.0005 (was 0.001)" for the settings that differ; "" when none do. */
export function settingChanges(saved: string | undefined, now: Record<string, unknown>): string {
  if (saved === undefined) return ""; // a state written before settings were recorded
  const before = JSON.parse(saved) as Record<string, unknown>;
  return (
    Object.entries(now)
      .filter(([k, v]) => k in before && JSON.stringify(before[k]) !== JSON.stringify(v))
      // A micro-batch that followed the batch in both runs is the batch change, named once.
      .filter(([k]) => !(k === "microBatch" && wholeBatch(before) && wholeBatch(now)))
      .map(([k, v]) => `${SETTING_FLAGS[k] ?? k} ${String(v)} (was ${String(before[k])})`)
      .join(", ")
  );
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

export interface StepResult {
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

/** What an engine provides to the loop. */
export interface EngineRun {
  /**
   * One optimisation step on `batch` with learning rate `lr`; `step` counts completed steps
   * (it seeds dropout). A non-finite loss must leave the state as it was.
   */
  step(batch: Batch, step: number, lr: number): Promise<StepResult>;
  /** Optimizer steps taken (Adam's t), saved with the progress. */
  adamStep(): number;
  /** Weights, EMA and Adam moments, as the checkpoint stores them. */
  state(): StateParts<StateArray>;
  dispose(): Promise<void> | void;
}

/** Opens an engine on `graph`, from `resumed` when resuming, else from o.init or the seeded init. */
export type OpenEngine = (graph: Graph, resumed: LoadedState | undefined) => Promise<EngineRun>;

export const trainPaths = (outDir: string) => ({
  state: join(outDir, "state.safetensors"),
  ema: join(outDir, "ema.safetensors"),
  metrics: join(outDir, "metrics.jsonl"),
  lossCurve: join(outDir, "loss.png"),
  samples: join(outDir, "samples.png"),
});

/**
 * A sample grid's samples from EMA weights (each engine samples its own way; passed in to keep
 * this module engine-free); gridPicture makes the PNG of them.
 */
export type GridOf = (weights: Map<string, Float32Array>) => GridSamples | Promise<GridSamples>;

/**
 * A class-conditional spec embeds labels 0..classes−1 (and the null label `classes`): a larger
 * label would index past the table mid-run, so it is refused before anything is compiled.
 */
function checkLabels(data: Dataset, classes: number, name: string): void {
  if (classes === 0) return; // unconditional: labels are never read
  let max = -1;
  for (const l of data.labels) max = Math.max(max, l);
  if (max < classes) return;
  const named =
    data.classNames.length > max ? ` (${data.classNames.slice(classes, max + 1).join(", ")})` : "";
  throw new InputError(
    `the data has ${max + 1} classes but spec ${name} has conditioning.classes ${classes}: ${max === classes ? `label ${max}${named} has` : `labels ${classes}..${max}${named} have`} no embedding (set conditioning.classes to ${max + 1} or leave those classes out)`,
  );
}

/**
 * Which checkpoint on disk is complete, kept while training, so that a failed write (a full
 * disk) can say what survived: the state is written before the EMA weights, each atomically.
 */
class CheckpointRecord {
  constructor(
    private readonly paths: ReturnType<typeof trainPaths>,
    public stateStep: number | undefined,
    public emaStep: number | undefined = stateStep,
  ) {}

  /** `e` as the user should see it: a failed write says which checkpoint survived and what to do. */
  explain(e: unknown): unknown {
    return e instanceof WriteError ? new InputError(`${e.message}; ${this.survivors()}`) : e;
  }

  private survivors(): string {
    if (this.stateStep === undefined)
      return "no checkpoint was written yet; free space (or fix the folder's permissions) and start again";
    const ema =
      this.emaStep !== this.stateStep ? ` (${this.paths.ema} still holds step ${this.emaStep})` : "";
    return `the last complete checkpoint, step ${this.stateStep}, is intact in ${this.paths.state}${ema}; free space (or fix the folder's permissions) and continue with --resume`;
  }
}

/** The note when a stop signal arrives mid-run. */
function stopNote(signal: StopSignal, afterBar: boolean): string {
  const again = signal === "SIGINT" ? "press Ctrl-C" : `send ${signal}`;
  return `${afterBar ? "\n" : ""}${signalName(signal)}: stopping after this step with a checkpoint (${again} again to stop at once, losing the steps since the last checkpoint)`;
}

export async function runTraining(
  entry: ResolvedEntry,
  data: Dataset,
  o: TrainOptions,
  open: OpenEngine,
  grid: GridOf,
  label = "train",
): Promise<TrainResult> {
  const spec = entry.spec;
  if (data.size !== spec.input.size || data.channels !== spec.input.channels) {
    throw new InputError(
      `the data is ${data.size}×${data.size}×${data.channels} but ${entry.name} expects ${spec.input.size}×${spec.input.size}×${spec.input.channels}`,
    );
  }
  checkLabels(data, spec.conditioning.classes, entry.name);
  // One trainer per folder (the CLI command holds this lock already; taking it again is free).
  const lock = lockOutputFolder(o.outDir, o.log ? { log: o.log } : {});
  const stop = watchStopSignals((signal) =>
    o.log?.(stopNote(signal, o.progress && process.stderr.isTTY === true)),
  );
  try {
    return await trainInFolder(entry, data, o, open, grid, label, stop);
  } finally {
    stop.dispose();
    lock.release();
  }
}

async function trainInFolder(
  entry: ResolvedEntry,
  data: Dataset,
  o: TrainOptions,
  open: OpenEngine,
  grid: GridOf,
  label: string,
  stop: StopRequests,
): Promise<TrainResult> {
  const spec = entry.spec;
  const diffusion = spec.diffusion;
  // EDM: ln σ ~ N(P_mean, P_std²); DDPM: t ~ U{0..T−1} with the ADM loss.
  const level =
    diffusion.kind === "edm"
      ? (r: Rng) => edmTrainingSigma(numberOps, diffusion, r.normal())
      : (r: Rng) => r.int(diffusion.steps);
  const paths = trainPaths(o.outDir);
  const graph = buildGraph(spec);
  const rng = new Rng(o.seed, "train");
  let order = new DataOrder(data.count, o.seed);
  const metrics = new MetricsLog(paths.metrics);
  let step = 0;
  let resumed: LoadedState | undefined;
  const settings = trajectorySettings(o, data.count);
  if (o.resume) {
    resumed = loadTrainState(paths.state, graph, entry.hash);
    const changed = settingChanges(resumed.metadata.settings, settings);
    if (changed)
      o.log?.(
        `note: resuming with ${changed}; the run continues from step ${resumed.progress.step} but will not equal an uninterrupted one`,
      );
    rng.restore(resumed.progress.rng);
    order = new DataOrder(data.count, o.seed, resumed.progress.data);
    step = resumed.progress.step;
  }
  const saved = new CheckpointRecord(paths, resumed ? step : undefined);
  try {
    metrics.truncateAfter(resumed ? step : -1, o.log);
  } catch (e) {
    throw saved.explain(e);
  }
  const engine = await open(graph, resumed);

  const batchOptions = {
    flip: o.flip,
    conditional: spec.conditioning.classes > 0,
    nullLabel: spec.conditioning.classes,
    labelDropout: spec.conditioning.labelDropout,
    level,
  };
  const emaOf = (parts: StateParts<StateArray>) => new Map([...parts.ema].map(([name, a]) => [name, a.data]));
  const save = () => {
    const progress = { step, adamStep: engine.adamStep(), rng: rng.state(), data: order.snapshot() };
    const parts = engine.state(); // read once: tfjs copies every tensor out of the backend
    saveTrainStateArrays(paths.state, entry, parts, progress, { settings: JSON.stringify(settings) });
    saved.stateStep = step;
    saveWeights(paths.ema, emaOf(parts), graph, {
      ...checkpointMetadata(entry),
      step: String(step),
      weights: "ema",
    });
    saved.emaStep = step;
  };

  let stopped: TrainResult["stopped"] | undefined;
  const bar =
    Number.isFinite(o.steps) || o.maxSeconds === undefined
      ? progressBar(o.steps, step, o.progress, label)
      : timeBudgetBar(o.maxSeconds, o.progress, label);
  const started = performance.now();
  const startStep = step;
  let lastLoss = Number.NaN;
  let message: string | undefined;
  try {
    while (step < o.steps) {
      // Yield to the event loop each step: stop signals and the progress bar's timer run there.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (stop.signal) stopped = "interrupted";
      else if (o.maxSeconds !== undefined && (performance.now() - started) / 1000 > o.maxSeconds)
        stopped = "time-budget";
      if (stopped) break;
      const t0 = performance.now();
      const batch = makeBatch(data, order.next(o.batchSize), rng, batchOptions);
      const lr = learningRate(o.lr, o.warmupSteps, step + 1);
      const { loss, gradNorm } = await engine.step(batch, step, lr);
      if (!Number.isFinite(loss)) {
        stopped = "non-finite-loss";
        message = `loss became ${loss} at step ${step + 1}; stopped without saving, the last good checkpoint (step ${saved.stateStep ?? 0}) is in ${paths.state}. Try a lower --lr or --grad-clip.`;
        break;
      }
      step++;
      lastLoss = loss;
      const seconds = (performance.now() - t0) / 1000;
      metrics.append({ step, loss, lr, gradNorm, seconds, imagesPerSecond: o.batchSize / seconds });
      bar.update(step, loss, 1 / seconds);
      if (step % o.checkpointEvery === 0 || step === o.steps) save();
      if (o.sampleEvery > 0 && step % o.sampleEvery === 0) {
        metrics.writeCurve(paths.lossCurve);
        const image = await gridPicture(await grid(emaOf(engine.state())), spec.input, o.vaeDecoder);
        writingTo(paths.samples, () => writePng(paths.samples, image));
        const numbered = join(o.outDir, `samples-${String(step).padStart(7, "0")}.png`);
        writingTo(numbered, () => writePng(numbered, image));
      }
    }
    if ((stopped === "interrupted" || stopped === "time-budget") && step > (saved.stateStep ?? 0)) save();
    if (step > startStep) metrics.writeCurve(paths.lossCurve);
  } catch (e) {
    throw saved.explain(e);
  } finally {
    bar.stop();
    await engine.dispose();
  }
  if (stop.signal)
    message =
      saved.stateStep === undefined
        ? `stopped by ${signalName(stop.signal)} before the first step; nothing was saved`
        : `stopped by ${signalName(stop.signal)} at step ${step}; the state is saved in ${paths.state}: continue with --resume`;
  return {
    step,
    stepsRun: step - startStep,
    lastLoss,
    seconds: (performance.now() - started) / 1000,
    stopped: stopped ?? "done",
    ...(message ? { message } : {}),
    statePath: paths.state,
    emaPath: paths.ema,
    metricsPath: paths.metrics,
  };
}
