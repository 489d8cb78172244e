// `diffit train`: train a spec (or every variant of a sweep) on a dataset, on the ONNX or tfjs engine.
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import type { Command } from "commander";
import { buildGraph } from "../compiler/ir/build.ts";
import type { ResolvedEntry } from "../compiler/pipeline.ts";
import { UsageError } from "../errors.ts";
import { BACKENDS, describeBackend, selectBackend } from "../runtime/backend.ts";
import { loadWeights } from "../runtime/checkpoint/model-checkpoint.ts";
import type { Dataset } from "../runtime/data/dataset.ts";
import { loadData, loadLatentData } from "../runtime/data/load-data.ts";
import { checkVaeDecoder, SD_LATENT_SCALE } from "../runtime/onnx/vae-decoder.ts";
import { withOutputLock } from "../runtime/output-lock.ts";
import { runSweep, type SharedTrainOptions } from "../runtime/sweep/run-sweep.ts";
import { sweepMarkdown } from "../runtime/sweep/sweep-results.ts";
import type { GridDecoder } from "../runtime/training/grid-picture.ts";
import { chooseEngine, describePlan, planStep, trainOnnx } from "../runtime/training/onnx-engine.ts";
import { train, trainPaths } from "../runtime/training/trainer.ts";
import {
  type CommandContext,
  EXIT,
  type Io,
  loadAll,
  loadOne,
  nonNegativeInt,
  nonNegativeNumber,
  positiveInt,
  positiveNumber,
} from "./context.ts";
import { packageFile } from "./package-files.ts";

/** The embedded Fashion-MNIST subset (see data/README.md). */
export const DEFAULT_DATA = packageFile("data/fashion-mnist");

interface TrainFlags {
  data: string;
  steps?: number;
  batch?: number;
  microBatch?: number;
  replicas?: number;
  lr?: number;
  warmup?: number;
  gradClip?: number;
  ema?: number;
  seed?: number;
  out?: string;
  resume?: boolean;
  init?: string;
  force?: boolean;
  checkpointEvery: number;
  sampleEvery: number;
  sampleSteps: number;
  flip?: boolean;
  skipBad?: boolean;
  limit?: number;
  vaeDecoder?: string;
  maxMinutes?: number;
  variant?: string;
  backend?: string;
  engine: string;
  progress: boolean;
  json?: boolean;
  typecheck: boolean;
  sweep?: string;
  eval: boolean;
  evalSamples: number;
  evalSteps?: number;
  evalGuidance?: number;
  evalData: string;
  cache: string;
}

/** Training options from the flags and the spec's `training` section. */
function trainOptions(entry: ResolvedEntry, o: TrainFlags): SharedTrainOptions {
  const t = entry.spec.training;
  const batchSize = o.batch ?? t.batchSize;
  return {
    steps: o.steps ?? t.steps ?? 1000,
    batchSize,
    microBatch: o.microBatch ?? batchSize,
    ...(o.replicas ? { replicas: o.replicas } : {}),
    lr: o.lr ?? t.lr,
    warmupSteps: o.warmup ?? t.warmupSteps,
    gradClip: o.gradClip ?? t.gradClip,
    emaDecay: o.ema ?? t.emaDecay,
    optimizer: t.optimizer,
    betas: t.betas,
    weightDecay: t.weightDecay,
    seed: o.seed ?? t.seed,
    checkpointEvery: o.checkpointEvery,
    sampleEvery: o.sampleEvery,
    sampleSteps: o.sampleSteps,
    flip: o.flip ?? false,
    progress: o.progress,
  };
}

/** The training data of `entry`: images for an image-space spec, a latent dataset for a latent one. */
function loadTrainingData(io: Io, entry: ResolvedEntry, specFile: string, o: TrainFlags): Dataset {
  const t0 = performance.now();
  const { spec } = entry;
  const { size, channels } = spec.input;
  const data =
    spec.family === "latent"
      ? loadLatentData(
          o.data,
          { name: entry.name, file: specFile, size, channels, classes: spec.conditioning.classes },
          o.limit,
        )
      : loadData(o.data, { size, channels, split: "train", limit: o.limit, skipBad: o.skipBad });
  const what = data.latents
    ? `latents (${data.latents.latent}${data.latents.flip ? ", with mirror images" : ""}, × ${data.latents.scale})`
    : "images";
  io.err(
    `data: ${data.count} ${what} in ${data.classNames.length} classes from ${o.data}${data.skipped ? ` (${data.skipped} unreadable skipped)` : ""} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return data;
}

/**
 * The flags that depend on the spec's family, checked before any work: --flip is for pixels,
 * --vae-decoder for latents (and the decoder file must take the spec's latents).
 */
function checkFamilyFlags(entry: ResolvedEntry, o: TrainFlags): void {
  const { spec } = entry;
  if (spec.family === "latent" && o.flip)
    throw new UsageError(
      "--flip mirrors the images being trained on, and a latent spec trains on VAE latents: mirroring a latent does not give the latent of the mirror image. Encode with `diffit encode --flip`, which stores each image's mirror image as an extra sample, and train without --flip",
    );
  if (!o.vaeDecoder) return;
  if (spec.family !== "latent")
    throw new UsageError(`--vae-decoder decodes latents; ${entry.name} is an image-space spec`);
  checkVaeDecoder(o.vaeDecoder, spec.input.channels, spec.input.size, spec.input.size);
}

/** The grids' VAE decoder, with the scale the dataset's latents were multiplied by. */
function gridDecoder(data: Dataset, o: TrainFlags): { vaeDecoder?: GridDecoder } {
  if (!o.vaeDecoder) return {};
  return { vaeDecoder: { path: o.vaeDecoder, scale: data.latents?.scale ?? SD_LATENT_SCALE } };
}

/** `diffit train --sweep`: every variant, same data, seeds and budget; results per variant. */
async function trainSweep(io: Io, o: TrainFlags & { sweep: string }): Promise<number> {
  for (const [flag, set] of [
    ["--resume", o.resume],
    ["--init", o.init],
    ["--variant", o.variant],
  ] as const) {
    if (set)
      throw new UsageError(
        `${flag} does not apply to --sweep: a rerun resumes variant by variant, and every variant starts from its seeded initialisation`,
      );
  }
  const entries = loadAll(io, o.sweep, o.typecheck);
  const [first] = entries;
  if (!first) throw new UsageError(`${o.sweep} holds no spec`);
  chooseEngine(first, o.engine); // an unknown --engine is a usage error before any work
  checkFamilyFlags(first, o);
  const shared = trainOptions(first, o);
  const different = entries.find((e) => JSON.stringify(trainOptions(e, o)) !== JSON.stringify(shared));
  if (different)
    throw new UsageError(
      `${different.name} has other training settings than ${first.name}; a sweep compares architectures under one training budget, so vary only the model (or pass the settings as flags)`,
    );
  const backend = await selectBackend(o.backend);
  io.err(describeBackend(backend));
  const data = loadTrainingData(io, first, o.sweep, o);
  const outDir = o.out ?? join("out", "sweeps", basename(o.sweep).replace(/\.(json|ts)$/, ""));
  io.err(`sweep: ${entries.length} variant(s), ${shared.steps} steps each → ${outDir}`);
  const r = await runSweep(entries, data, {
    sweep: o.sweep,
    outDir,
    dataPath: o.data,
    train: { ...shared, ...gridDecoder(data, o) },
    engine: o.engine,
    evaluation: o.eval
      ? {
          samples: o.evalSamples,
          ...(o.evalSteps !== undefined ? { steps: o.evalSteps } : {}),
          ...(o.evalGuidance !== undefined ? { guidance: o.evalGuidance } : {}),
          seed: 0,
          data: o.evalData,
          cache: o.cache,
        }
      : null,
    force: o.force ?? false,
    ...(o.maxMinutes ? { maxSeconds: o.maxMinutes * 60 } : {}),
    log: io.err,
  });
  if (o.json) io.out(JSON.stringify({ backend: backend.name, stopped: r.stopped, ...r.results }, null, 2));
  else {
    io.out(sweepMarkdown(r.results));
    io.out(`results: ${r.jsonPath}\ntable:   ${r.markdownPath}`);
  }
  if (r.stopped !== "done") io.err(`sweep stopped (${r.stopped}); rerun the same command to resume it`);
  return EXIT.ok;
}

/** `diffit train <spec>` into `outDir`, whose lock the caller holds; returns the exit code. */
async function trainOne(
  io: Io,
  entry: ResolvedEntry,
  specFile: string,
  outDir: string,
  o: TrainFlags,
): Promise<number> {
  const paths = trainPaths(outDir);
  if (o.resume && !existsSync(paths.state))
    throw new UsageError(`nothing to resume: ${paths.state} does not exist`);
  if (!o.resume && !o.force && existsSync(paths.state)) {
    throw new UsageError(
      `${outDir} already holds a training state; use --resume to continue it, --force to start over, or another --out`,
    );
  }
  const { engine, note } = chooseEngine(entry, o.engine);
  checkFamilyFlags(entry, o);
  if (engine === "tfjs" && o.replicas)
    throw new UsageError(
      "--replicas applies to the ONNX engine only: the tfjs engine runs one model (use --engine onnx)",
    );
  const backend = await selectBackend(o.backend);
  io.err(describeBackend(backend));
  io.err(note);
  if (engine === "onnx") io.err(describePlan(planStep(entry, trainOptions(entry, o))));
  const data = loadTrainingData(io, entry, specFile, o);
  const decoder = gridDecoder(data, o);
  const init = o.init ? loadWeights(o.init, buildGraph(entry.spec)).weights : undefined;
  const result = await (engine === "onnx" ? trainOnnx : train)(entry, data, {
    ...trainOptions(entry, o),
    ...decoder,
    outDir,
    resume: o.resume ?? false,
    log: io.err,
    ...(init ? { init } : {}),
    ...(o.maxMinutes ? { maxSeconds: o.maxMinutes * 60 } : {}),
  });
  if (o.json) io.out(JSON.stringify({ backend: backend.name, engine, ...result }, null, 2));
  else {
    const rate =
      result.stepsRun > 0 ? `${(result.stepsRun / result.seconds).toFixed(2)} steps/s` : "no steps";
    io.out(
      [
        `${result.stopped === "done" ? "✓" : "■"} ${entry.name}: step ${result.step} (${result.stepsRun} this run, ${result.seconds.toFixed(0)} s, ${rate}), last loss ${result.lastLoss.toFixed(4)} [${result.stopped}]`,
        `  state (resume):  ${result.statePath}`,
        `  EMA weights:     ${result.emaPath}`,
        `  metrics:         ${result.metricsPath}`,
        `  loss curve:      ${paths.lossCurve}`,
      ].join("\n"),
    );
  }
  if (result.message) io.err(result.message);
  return result.stopped === "non-finite-loss" ? EXIT.invalid : EXIT.ok;
}

export function registerTrain(program: Command, { io, setExit }: CommandContext): void {
  program
    .command("train")
    .description(
      "train a spec on images (EDM and DDPM specs; ONNX or tfjs engine), with checkpoints, resume, metrics and sample grids; or a sweep of variants",
    )
    .argument("[spec]", "spec file (or give --sweep)")
    .option(
      "--data <path>",
      "folder of IDX files (MNIST/Fashion-MNIST) or of class sub-folders of PNG/JPEG images; for a latent spec, a latent dataset of diffit encode",
      DEFAULT_DATA,
    )
    .option(
      "--steps <n>",
      "train up to this step (default: training.steps of the spec, else 1000)",
      positiveInt("--steps"),
    )
    .option("--batch <n>", "batch size (default: training.batchSize)", positiveInt("--batch"))
    .option(
      "--micro-batch <n>",
      "samples per forward/backward pass; gradients are averaged (saves memory)",
      positiveInt("--micro-batch"),
    )
    .option(
      "--replicas <n>",
      "ONNX engine: run each step as n data-parallel replicas on even slices of the batch, one per worker thread (default: one per core for narrow models, else 1)",
      positiveInt("--replicas"),
    )
    .option("--lr <x>", "peak learning rate (default: training.lr)", positiveNumber("--lr"))
    .option(
      "--warmup <n>",
      "linear warm-up steps (default: training.warmupSteps)",
      nonNegativeInt("--warmup"),
    )
    .option(
      "--grad-clip <x>",
      "clip the global gradient norm (default: training.gradClip)",
      positiveNumber("--grad-clip"),
    )
    .option("--ema <decay>", "EMA decay per step (default: training.emaDecay)", nonNegativeNumber("--ema"))
    .option(
      "--seed <n>",
      "seed of initialisation, data order and noise (default: training.seed)",
      nonNegativeInt("--seed"),
    )
    .option("-o, --out <dir>", "output folder (default: out/train/<spec name>)")
    .option("--resume", "continue exactly from <out>/state.safetensors")
    .option(
      "--init <weights>",
      "start from these weights (a .safetensors of this spec, e.g. an EMA checkpoint) to fine-tune",
    )
    .option("--force", "overwrite an existing training state in <out>")
    .option("--checkpoint-every <n>", "steps between checkpoints", positiveInt("--checkpoint-every"), 100)
    .option(
      "--sample-every <n>",
      "steps between sample grids and loss curves (0: never)",
      nonNegativeInt("--sample-every"),
      500,
    )
    .option("--sample-steps <n>", "Heun steps for the sample grids", positiveInt("--sample-steps"), 12)
    .option(
      "--flip",
      "random horizontal flips (image-space specs; latent datasets hold theirs: diffit encode --flip)",
    )
    .option("--skip-bad", "skip unreadable images (counted) instead of stopping")
    .option("--limit <n>", "use only the first n training images", positiveInt("--limit"))
    .option(
      "--max-minutes <m>",
      "stop (with a checkpoint) after this much time",
      positiveNumber("--max-minutes"),
    )
    .option(
      "--vae-decoder <onnx>",
      "latent specs: decode the sample grids' latents with this VAE decoder (ONNX) into images",
    )
    .option("--variant <name>", "the variant to train, for specs with variants")
    .option("--backend <name>", `tfjs backend: ${BACKENDS.join(", ")}`)
    .option(
      "--engine <name>",
      "training engine: onnx (the whole step compiled to ONNX, run by onnxruntime), tfjs, or auto (onnx where it applies)",
      "auto",
    )
    .option("--no-progress", "no progress bar")
    .option("--json", "print the result as JSON")
    .option("--no-typecheck", "skip the TypeScript checker on .ts specs")
    .option(
      "--sweep <file>",
      "train every variant of a sweep spec with identical data, seeds and budget, evaluate each, and write sweep-results.json and .md (rerun to resume)",
    )
    .option("--no-eval", "sweep: compare final training losses only, without sampling")
    .option(
      "--eval-samples <n>",
      "sweep: samples per variant for evaluation",
      positiveInt("--eval-samples"),
      500,
    )
    .option(
      "--eval-steps <n>",
      "sweep: Heun steps for evaluation (default: the spec's)",
      positiveInt("--eval-steps"),
    )
    .option(
      "--eval-guidance <scale>",
      "sweep: guidance scale for evaluation (default: the spec's)",
      nonNegativeNumber("--eval-guidance"),
    )
    .option(
      "--eval-data <dir>",
      "sweep: Fashion-MNIST IDX folder for the evaluation classifier and real test images",
      DEFAULT_DATA,
    )
    .option("--cache <dir>", "sweep: where the evaluation classifier is kept", "out/cache")
    .action(async (file: string | undefined, o: TrainFlags) => {
      if (o.sweep) {
        if (file) throw new UsageError("give a spec or --sweep <file>, not both");
        setExit(await trainSweep(io, { ...o, sweep: o.sweep }));
        return;
      }
      if (!file) throw new UsageError("give a spec to train, or --sweep <file>");
      const entry = loadOne(io, file, o.typecheck, o.variant);
      const outDir = o.out ?? join("out", "train", entry.name);
      if (o.resume && o.init) throw new UsageError("--resume and --init exclude each other");
      // Taken before the folder's state is looked at: a run still training there would change it.
      setExit(await withOutputLock(outDir, { log: io.err }, () => trainOne(io, entry, file, outDir, o)));
    });
}
