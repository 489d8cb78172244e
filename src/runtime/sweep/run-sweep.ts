// `diffit train --sweep`: trains every variant of a sweep spec with the same data, seeds and step
// budget, evaluates each (sample quality for Fashion-MNIST models, else the final training loss),
// and records the comparison. Results are written after every variant, and a rerun of the same
// command resumes variant by variant: finished variants are skipped, an interrupted one continues
// from its own training state.
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { analyze } from "../../compiler/analysis.ts";
import { buildGraph } from "../../compiler/ir/build.ts";
import type { ResolvedEntry } from "../../compiler/pipeline.ts";
import { specSlug } from "../../compiler/spec-slug.ts";
import { UsageError } from "../../errors.ts";
import { loadWeights } from "../checkpoint/model-checkpoint.ts";
import type { Dataset } from "../data/dataset.ts";
import type { CachedClassifierOptions } from "../eval/classifier.ts";
import { classRows, evaluateModel, notEvaluable } from "../eval/evaluate.ts";
import { imageGrid, writePng } from "../images/png.ts";
import { withTemporaryExport } from "../onnx/export-model.ts";
import { withOutputLock } from "../output-lock.ts";
import { chooseEngine, trainOnnx } from "../training/onnx-engine.ts";
import { MetricsLog } from "../training/reporting.ts";
import { type TrainOptions, train, trainPaths } from "../training/trainer.ts";
import {
  readSweepResults,
  SWEEP_RESULTS_FORMAT,
  type SweepResults,
  type SweepSettings,
  settingsDiff,
  type VariantResult,
  writeSweepResults,
} from "./sweep-results.ts";

/** Training options every variant shares (the output folder is per variant). */
export type SharedTrainOptions = Omit<TrainOptions, "outDir" | "resume" | "init" | "maxSeconds">;

export interface SweepEvaluation {
  samples: number;
  /** Heun steps (default: each variant's sampling.steps). */
  steps?: number;
  guidance?: number;
  seed: number;
  /** Fashion-MNIST IDX folder for the classifier and the real test images. */
  data: string;
  cache: string;
  classifier?: CachedClassifierOptions;
}

export interface SweepOptions {
  /** The sweep spec file (for the record). */
  sweep: string;
  outDir: string;
  /** Where `data` came from (for the record). */
  dataPath: string;
  train: SharedTrainOptions;
  /** Training engine for every variant: tfjs, onnx, or auto (onnx where it covers the variant). */
  engine: string;
  /** null: no sample evaluation (compare training losses). */
  evaluation: SweepEvaluation | null;
  /** Start over: remove earlier results and variant states in outDir. */
  force: boolean;
  /** Stop (with checkpoints and results) after this many seconds, across all variants. */
  maxSeconds?: number;
  log: (line: string) => void;
}

export interface SweepOutcome {
  results: SweepResults;
  jsonPath: string;
  markdownPath: string;
  /** "done", or why the sweep stopped early (a rerun resumes it). */
  stopped: "done" | "interrupted" | "time-budget";
}

export const sweepPaths = (outDir: string) => ({
  json: join(outDir, "sweep-results.json"),
  markdown: join(outDir, "sweep-results.md"),
});

const FINAL_LOSS_WINDOW = 50;

/** Mean loss of the last steps, and the summed step time (exact across interruptions). */
function trainingSummary(metricsPath: string): { finalLoss: number; seconds: number } {
  const lines = new MetricsLog(metricsPath).read();
  const tail = lines.slice(-FINAL_LOSS_WINDOW);
  return {
    finalLoss: tail.length ? tail.reduce((a, m) => a + m.loss, 0) / tail.length : Number.NaN,
    seconds: lines.reduce((a, m) => a + m.seconds, 0),
  };
}

/** The share of the initial weights left in an EMA after `steps` updates. */
export function emaStaleness(decay: number, steps: number): number {
  return decay ** steps;
}

/** A decay that leaves under 1 % of the initialisation after `steps` (two decimals). */
function suggestedEma(steps: number): number {
  return Math.floor(0.01 ** (1 / steps) * 100) / 100;
}

/** Runs the sweep holding the lock of its folder (results and every variant's folder are inside). */
export async function runSweep(
  entries: readonly ResolvedEntry[],
  data: Dataset,
  o: SweepOptions,
): Promise<SweepOutcome> {
  return withOutputLock(o.outDir, { log: o.log }, () => sweepInFolder(entries, data, o));
}

async function sweepInFolder(
  entries: readonly ResolvedEntry[],
  data: Dataset,
  o: SweepOptions,
): Promise<SweepOutcome> {
  const paths = sweepPaths(o.outDir);
  const cannotEvaluate = entries.map((e) => notEvaluable(e.spec)).find((w) => w !== undefined);
  if (o.evaluation && cannotEvaluate)
    throw new UsageError(
      `${o.sweep}: ${cannotEvaluate}; run the sweep with --no-eval to compare training losses`,
    );
  const settings: SweepSettings = {
    sweep: o.sweep,
    data: o.dataPath,
    images: data.count,
    batchSize: o.train.batchSize,
    lr: o.train.lr,
    warmupSteps: o.train.warmupSteps,
    gradClip: o.train.gradClip,
    emaDecay: o.train.emaDecay,
    seed: o.train.seed,
    flip: o.train.flip,
    engine: o.engine,
    evaluation: o.evaluation
      ? {
          samples: o.evaluation.samples,
          steps: o.evaluation.steps ?? entries[0]?.spec.sampling.steps ?? 18,
          guidance: o.evaluation.guidance ?? null,
          seed: o.evaluation.seed,
        }
      : null,
  };
  const stale = emaStaleness(o.train.emaDecay, o.train.steps);
  if (o.evaluation && stale > 0.1)
    o.log(
      `warning: with EMA decay ${o.train.emaDecay} over ${o.train.steps} steps, ${(stale * 100).toFixed(0)} % of the evaluated EMA weights is still the initialisation, so the evaluation measures little; pass --ema ${suggestedEma(o.train.steps)} or lower for a budget this short`,
    );
  const dirOf = (e: ResolvedEntry) => join(o.outDir, specSlug(e.name));
  if (o.force) {
    rmSync(paths.json, { force: true });
    rmSync(paths.markdown, { force: true });
    for (const e of entries) rmSync(dirOf(e), { recursive: true, force: true });
  }

  const recorded = readSweepResults(paths.json);
  if (recorded) {
    const diff = settingsDiff(recorded.settings, settings);
    if (diff.length > 0)
      throw new UsageError(
        `${paths.json} was made with other settings (${diff.join("; ")}); rerun with the same ones, use --force to start over, or another --out`,
      );
    const ahead = recorded.variants.find((v) => v.step > o.train.steps);
    if (ahead)
      throw new UsageError(
        `${ahead.name} already trained to step ${ahead.step}, beyond --steps ${o.train.steps}; use --force or another --out`,
      );
  } else {
    // Variant states without a results file were made under unknown settings: never resume them.
    const stale = entries.find((e) => existsSync(trainPaths(dirOf(e)).state));
    if (stale)
      throw new UsageError(
        `${dirOf(stale)} holds a training state but ${paths.json} is missing; use --force to start over, or another --out`,
      );
  }
  const results: SweepResults = {
    format: SWEEP_RESULTS_FORMAT,
    steps: o.train.steps,
    settings,
    variants: recorded?.variants.filter((v) => entries.some((e) => e.name === v.name)) ?? [],
  };
  // The settings are on disk before any variant trains, so an interrupted first variant resumes.
  writeSweepResults(paths.json, paths.markdown, results);

  const started = performance.now();
  for (const [i, entry] of entries.entries()) {
    const done = results.variants.find((v) => v.name === entry.name);
    const counter = `[${i + 1}/${entries.length}]`;
    if (done && (done.step === o.train.steps || done.status === "non-finite-loss")) {
      o.log(`${counter} ${entry.name}: recorded (step ${done.step}), skipped`);
      continue;
    }
    const dir = dirOf(entry);
    const tp = trainPaths(dir);
    const resume = existsSync(tp.state);
    o.log(`${counter} ${entry.name}: ${resume ? "resuming" : "training"} → ${dir}`);
    const elapsed = (performance.now() - started) / 1000;
    const { engine } = chooseEngine(entry, o.engine);
    const r = await (engine === "onnx" ? trainOnnx : train)(entry, data, {
      ...o.train,
      outDir: dir,
      resume,
      log: o.log,
      ...(o.maxSeconds !== undefined ? { maxSeconds: Math.max(0, o.maxSeconds - elapsed) } : {}),
    });
    if (r.stopped === "interrupted" || r.stopped === "time-budget") {
      o.log(`${entry.name}: stopped at step ${r.step} (${r.stopped}); rerun the same command to resume`);
      return { results, jsonPath: paths.json, markdownPath: paths.markdown, stopped: r.stopped };
    }
    const graph = buildGraph(entry.spec);
    const { totals } = analyze(graph);
    const summary = trainingSummary(tp.metrics);
    const row: VariantResult = {
      name: entry.name,
      hash: entry.hash,
      settings: entry.settings ?? {},
      params: totals.params,
      macs: totals.macs,
      activationBytes: totals.activationBytes,
      step: r.step,
      engine,
      status: r.stopped === "done" ? "done" : "non-finite-loss",
      ...(r.message ? { message: r.message } : {}),
      trainSeconds: summary.seconds,
      finalLoss: summary.finalLoss,
      dir,
    };
    if (r.stopped === "non-finite-loss") o.log(`${entry.name}: ${r.message ?? "non-finite loss"}`);
    else if (o.evaluation && settings.evaluation) {
      const evaluation = o.evaluation;
      const steps = settings.evaluation.steps;
      const ev = await withTemporaryExport(
        entry,
        loadWeights(tp.ema, graph).weights,
        (model) =>
          evaluateModel({
            model,
            spec: entry.spec,
            n: evaluation.samples,
            steps,
            ...(evaluation.guidance !== undefined ? { guidance: evaluation.guidance } : {}),
            seed: evaluation.seed,
            data: evaluation.data,
            cache: evaluation.cache,
            chunk: 100,
            ...(evaluation.classifier ? { classifier: evaluation.classifier } : {}),
            log: o.log,
          }),
        "edm",
      );
      const grid = join(dir, "eval-samples.png");
      const rows = classRows(ev.images, ev.samples);
      writePng(grid, imageGrid(rows.images, rows.count, 32, 32, 1, 10));
      row.eval = {
        classAccuracy: ev.classAccuracy,
        fid: ev.fid,
        kid: ev.kid.mean,
        nfe: ev.nfe,
        seconds: ev.samplingSeconds,
        grid,
      };
    }
    results.variants = [...results.variants.filter((v) => v.name !== entry.name), row];
    // Rows follow the sweep's order, whatever order they finished in.
    results.variants.sort(
      (a, b) => entries.findIndex((e) => e.name === a.name) - entries.findIndex((e) => e.name === b.name),
    );
    writeSweepResults(paths.json, paths.markdown, results);
    o.log(
      `${entry.name}: step ${row.step}, final loss ${row.finalLoss.toFixed(4)}${row.eval ? `, class accuracy ${(row.eval.classAccuracy * 100).toFixed(1)} %, FID ${row.eval.fid.toFixed(3)}` : ""}`,
    );
  }
  return { results, jsonPath: paths.json, markdownPath: paths.markdown, stopped: "done" };
}
