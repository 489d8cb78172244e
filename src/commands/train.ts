// `diffit train`: train a spec on a dataset with the tfjs engine.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { buildGraph } from "../compiler/ir/build.ts";
import { UsageError } from "../errors.ts";
import { BACKENDS, describeBackend, selectBackend } from "../runtime/backend.ts";
import { loadWeights } from "../runtime/checkpoint/model-checkpoint.ts";
import { loadData } from "../runtime/data/load-data.ts";
import { train, trainPaths } from "../runtime/training/trainer.ts";
import {
  type CommandContext,
  EXIT,
  loadOne,
  nonNegativeInt,
  nonNegativeNumber,
  positiveInt,
  positiveNumber,
} from "./context.ts";

/** The embedded Fashion-MNIST subset (see data/README.md). */
export const DEFAULT_DATA = "data/fashion-mnist";

interface TrainFlags {
  data: string;
  steps?: number;
  batch?: number;
  microBatch?: number;
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
  maxMinutes?: number;
  variant?: string;
  backend?: string;
  progress: boolean;
  json?: boolean;
  typecheck: boolean;
}

export function registerTrain(program: Command, { io, setExit }: CommandContext): void {
  program
    .command("train")
    .description(
      "train a spec on images (EDM specs; tfjs engine), with checkpoints, resume, metrics and sample grids",
    )
    .argument("<spec>", "spec file")
    .option(
      "--data <path>",
      "folder of IDX files (MNIST/Fashion-MNIST) or of class sub-folders of PNG/JPEG images",
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
    .option("--flip", "random horizontal flips")
    .option("--skip-bad", "skip unreadable images (counted) instead of stopping")
    .option("--limit <n>", "use only the first n training images", positiveInt("--limit"))
    .option(
      "--max-minutes <m>",
      "stop (with a checkpoint) after this much time",
      positiveNumber("--max-minutes"),
    )
    .option("--variant <name>", "the variant to train, for specs with variants")
    .option("--backend <name>", `tfjs backend: ${BACKENDS.join(", ")}`)
    .option("--no-progress", "no progress bar")
    .option("--json", "print the result as JSON")
    .option("--no-typecheck", "skip the TypeScript checker on .ts specs")
    .action(async (file: string, o: TrainFlags) => {
      const entry = loadOne(io, file, o.typecheck, o.variant);
      const t = entry.spec.training;
      const outDir = o.out ?? join("out", "train", entry.name);
      const paths = trainPaths(outDir);
      if (o.resume && o.init) throw new UsageError("--resume and --init exclude each other");
      if (o.resume && !existsSync(paths.state))
        throw new UsageError(`nothing to resume: ${paths.state} does not exist`);
      if (!o.resume && !o.force && existsSync(paths.state)) {
        throw new UsageError(
          `${outDir} already holds a training state; use --resume to continue it, --force to start over, or another --out`,
        );
      }
      const backend = await selectBackend(o.backend);
      io.err(describeBackend(backend));
      const t0 = performance.now();
      const data = loadData(o.data, {
        size: entry.spec.input.size,
        channels: entry.spec.input.channels,
        split: "train",
        limit: o.limit,
        skipBad: o.skipBad,
      });
      io.err(
        `data: ${data.count} images from ${o.data}${data.skipped ? ` (${data.skipped} unreadable skipped)` : ""} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      const init = o.init ? loadWeights(o.init, buildGraph(entry.spec)).weights : undefined;
      const batchSize = o.batch ?? t.batchSize;
      const result = await train(entry, data, {
        steps: o.steps ?? t.steps ?? 1000,
        batchSize,
        microBatch: o.microBatch ?? batchSize,
        lr: o.lr ?? t.lr,
        warmupSteps: o.warmup ?? t.warmupSteps,
        gradClip: o.gradClip ?? t.gradClip,
        emaDecay: o.ema ?? t.emaDecay,
        optimizer: t.optimizer,
        betas: t.betas,
        weightDecay: t.weightDecay,
        seed: o.seed ?? t.seed,
        outDir,
        checkpointEvery: o.checkpointEvery,
        sampleEvery: o.sampleEvery,
        sampleSteps: o.sampleSteps,
        resume: o.resume ?? false,
        ...(init ? { init } : {}),
        flip: o.flip ?? false,
        progress: o.progress,
        ...(o.maxMinutes ? { maxSeconds: o.maxMinutes * 60 } : {}),
      });
      if (o.json) io.out(JSON.stringify({ backend: backend.name, ...result }, null, 2));
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
      setExit(result.stopped === "non-finite-loss" ? EXIT.invalid : EXIT.ok);
    });
}
