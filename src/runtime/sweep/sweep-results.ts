// The record of a sweep: one row per variant (architecture numbers, training outcome, evaluation),
// the settings every variant shared, written atomically after each variant so an interrupted sweep
// resumes variant by variant. Rendered as `sweep-results.json` and a Markdown table.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { humanCount, markdownTable } from "../../compiler/report.ts";
import { InputError } from "../../errors.ts";
import { writeFileAtomic } from "../checkpoint/safetensors.ts";

export const SWEEP_RESULTS_FORMAT = "diffit-sweep-results-v1";

/** What every variant shares; a sweep resumes only under the same settings. */
export interface SweepSettings {
  sweep: string;
  data: string;
  images: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  gradClip: number | null;
  emaDecay: number;
  seed: number;
  flip: boolean;
  /** The requested engine (auto, tfjs, onnx); each variant records the one it ran on. */
  engine: string;
  /** null: variants are compared by training loss only. */
  evaluation: { samples: number; steps: number; guidance: number | null; seed: number } | null;
}

export interface VariantResult {
  name: string;
  hash: string;
  /** The variant's coordinates in the sweep matrix (e.g. `stages[*].depth: 2`). */
  settings: Record<string, string>;
  params: number;
  macs: number;
  activationBytes: number;
  step: number;
  engine: "tfjs" | "onnx";
  status: "done" | "non-finite-loss";
  message?: string;
  /** Sum of the step times (excludes evaluation and checkpoint writing). */
  trainSeconds: number;
  /** Mean training loss over the last min(50, steps) steps (EDM-weighted, comparable across variants). */
  finalLoss: number;
  eval?: { classAccuracy: number; fid: number; kid: number; nfe: number; seconds: number; grid: string };
  dir: string;
}

export interface SweepResults {
  format: typeof SWEEP_RESULTS_FORMAT;
  /** The step every variant trains to. */
  steps: number;
  settings: SweepSettings;
  variants: VariantResult[];
}

export function readSweepResults(path: string): SweepResults | undefined {
  if (!existsSync(path)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new InputError(`${path} is not valid JSON (${(e as Error).message}); remove it or use --force`);
  }
  const r = parsed as Partial<SweepResults>;
  if (r.format !== SWEEP_RESULTS_FORMAT || !Array.isArray(r.variants) || !r.settings)
    throw new InputError(`${path} is not a ${SWEEP_RESULTS_FORMAT} file; remove it or use --force`);
  return r as SweepResults;
}

/** The settings that differ between a recorded sweep and this run (empty: the run may resume). */
export function settingsDiff(recorded: SweepSettings, now: SweepSettings): string[] {
  const keys = Object.keys(now) as (keyof SweepSettings)[];
  return keys
    .filter((k) => JSON.stringify(recorded[k]) !== JSON.stringify(now[k]))
    .map((k) => `${k}: ${JSON.stringify(recorded[k])} then, ${JSON.stringify(now[k])} now`);
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

export function sweepMarkdown(r: SweepResults): string {
  const keys = [...new Set(r.variants.flatMap((v) => Object.keys(v.settings)))];
  const evaluated = r.settings.evaluation;
  const header = [
    "variant",
    ...keys,
    "params",
    "MACs",
    "act./sample",
    "steps",
    "engine",
    "train s",
    "final loss",
    ...(evaluated ? ["class acc.", "FID", "KID"] : []),
  ];
  const rows = r.variants.map((v) => [
    v.name,
    ...keys.map((k) => v.settings[k] ?? ""),
    humanCount(v.params),
    humanCount(v.macs),
    `${(v.activationBytes / 2 ** 20).toFixed(1)} MiB`,
    v.status === "done" ? String(v.step) : `${v.step} (${v.status})`,
    v.engine,
    v.trainSeconds.toFixed(0),
    Number.isFinite(v.finalLoss) ? v.finalLoss.toFixed(4) : "—",
    ...(evaluated
      ? v.eval
        ? [pct(v.eval.classAccuracy), v.eval.fid.toFixed(3), v.eval.kid.toFixed(5)]
        : ["—", "—", "—"]
      : []),
  ]);
  const s = r.settings;
  const lines = [
    `# Sweep ${s.sweep}`,
    "",
    `Every variant: ${r.steps} steps at batch ${s.batchSize} on ${s.images} images from \`${s.data}\`, lr ${s.lr} (warm-up ${s.warmupSteps}), grad clip ${s.gradClip ?? "none"}, EMA ${s.emaDecay}, seed ${s.seed}${s.flip ? ", flips" : ""}.`,
    evaluated
      ? `Evaluation: ${evaluated.samples} class-balanced samples (Heun ${evaluated.steps} steps, guidance ${evaluated.guidance ?? "of the spec"}, seed ${evaluated.seed}) of the EMA weights; class accuracy by the cached Fashion-MNIST classifier, FID/KID on its penultimate features against as many test images.`
      : "No sample evaluation (the variants are not 10-class 32×32×1 EDM models, or --no-eval): compare the final loss.",
    "",
    markdownTable(header, rows),
    "",
  ];
  return lines.join("\n");
}

export function writeSweepResults(jsonPath: string, mdPath: string, r: SweepResults): void {
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileAtomic(jsonPath, new TextEncoder().encode(`${JSON.stringify(r, null, 2)}\n`));
  writeFileAtomic(mdPath, new TextEncoder().encode(sweepMarkdown(r)));
}
