// `diffit demo` (npm run demo): the whole promise on the embedded default, in a few minutes —
// report the tiny spec, fine-tune it from the committed checkpoint, sample a class grid.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { analyze, groupRows } from "../compiler/analysis.ts";
import { buildGraph } from "../compiler/ir/build.ts";
import { formatReport } from "../compiler/report.ts";
import { describeBackend, selectBackend } from "../runtime/backend.ts";
import { loadWeights } from "../runtime/checkpoint/model-checkpoint.ts";
import { loadData } from "../runtime/data/load-data.ts";
import { imageGrid, writePng } from "../runtime/images/png.ts";
import { exportOnnx } from "../runtime/onnx/export-model.ts";
import { verifyOnnx } from "../runtime/onnx/verify.ts";
import { withOutputLock } from "../runtime/output-lock.ts";
import { chooseEngine, trainOnnx } from "../runtime/training/onnx-engine.ts";
import { train } from "../runtime/training/trainer.ts";
import { type CommandContext, EXIT, type Io, loadOne, positiveNumber } from "./context.ts";
import { packageFile } from "./package-files.ts";
import { sampleOnnxJob } from "./sample.ts";
import { DEFAULT_DATA } from "./train.ts";

export const DEMO_SPEC = packageFile("specs/tiny-fmnist.json");
export const DEMO_CHECKPOINT = packageFile("checkpoints/tiny-fmnist.safetensors");

export function registerDemo(program: Command, { io, setExit }: CommandContext): void {
  program
    .command("demo")
    .description(
      "the main job on the embedded default: report tiny-fmnist, fine-tune it for a minute, sample a class grid",
    )
    .option("--minutes <m>", "fine-tuning time", positiveNumber("--minutes"), 1)
    .option("-o, --out <dir>", "output folder", "out/demo")
    .option("--backend <name>", "tfjs backend")
    .action(async (o: { minutes: number; out: string; backend?: string }) => {
      setExit(await withOutputLock(o.out, { log: io.err }, () => runDemo(io, o)));
    });
}

/** The demo's stages, writing into `o.out`, whose lock the caller holds. */
async function runDemo(io: Io, o: { minutes: number; out: string; backend?: string }): Promise<number> {
  const timings: [string, number, string][] = [];
  const timed = async <T>(label: string, where: string, f: () => T | Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    timings.push([label, (performance.now() - t0) / 1000, where]);
    return r;
  };
  const entry = loadOne(io, DEMO_SPEC, false);
  const graph = buildGraph(entry.spec);
  const a = analyze(graph);
  io.out(`== 1. ${DEMO_SPEC}\n`);
  io.out(formatReport(a, groupRows(a.rows, 1)));

  const backend = await selectBackend(o.backend);
  io.err(describeBackend(backend));
  const hasCheckpoint = existsSync(DEMO_CHECKPOINT);
  io.out(
    hasCheckpoint
      ? `== 2. fine-tuning ${DEMO_CHECKPOINT} on ${DEFAULT_DATA} for ${o.minutes} min`
      : `== 2. ${DEMO_CHECKPOINT} is missing: training from scratch for ${o.minutes} min (samples will be rough)`,
  );
  const data = loadData(DEFAULT_DATA, { size: 32, channels: 1, split: "train" });
  const init = hasCheckpoint ? loadWeights(DEMO_CHECKPOINT, graph).weights : undefined;
  const t = entry.spec.training;
  const trainDir = join(o.out, "train");
  const { engine, note } = chooseEngine(entry, "auto");
  io.err(note);
  const result = await timed(`fine-tune (${engine})`, trainDir, () =>
    (engine === "onnx" ? trainOnnx : train)(entry, data, {
      steps: Number.POSITIVE_INFINITY, // until the time budget is spent
      batchSize: t.batchSize,
      microBatch: t.batchSize,
      lr: hasCheckpoint ? t.lr / 10 : t.lr,
      warmupSteps: hasCheckpoint ? 0 : t.warmupSteps,
      gradClip: t.gradClip,
      // Fine-tuning for a minute: the EMA must not lag far behind the committed weights.
      emaDecay: hasCheckpoint ? 0.99 : t.emaDecay,
      optimizer: t.optimizer,
      betas: t.betas,
      weightDecay: t.weightDecay,
      seed: t.seed,
      outDir: trainDir,
      checkpointEvery: 50,
      sampleEvery: 0,
      sampleSteps: 12,
      resume: false,
      ...(init ? { init } : {}),
      flip: false,
      progress: true,
      maxSeconds: o.minutes * 60,
      log: io.err,
    }),
  );
  io.out(`   ${result.stepsRun} steps, last loss ${result.lastLoss.toFixed(4)}`);

  const weights = loadWeights(result.emaPath, graph).weights;
  const onnxPath = join(o.out, "tiny-fmnist.onnx");
  io.out("== 3. exporting the EMA weights to ONNX and verifying them against tfjs");
  await timed("export ONNX", onnxPath, () =>
    exportOnnx(entry, onnxPath, { opset: 17, fp16: false, denoiser: "edm", weights }),
  );
  const parity = await timed("verify (ORT/tfjs)", "batch 1 and 3", () => verifyOnnx(onnxPath, weights));
  for (const row of parity.rows)
    io.out(`   batch ${row.batch}: max abs error ${row.maxAbs.toExponential(2)}`);

  const spec = entry.spec;
  io.out(
    `== 4. sampling one row per class on ONNX Runtime (Heun, ${spec.sampling.steps} steps, guidance ${spec.sampling.guidance.scale})`,
  );
  const perClass = 8;
  const labels = Array.from({ length: 10 * perClass }, (_, i) => Math.floor(i / perClass));
  const samplesPath = join(o.out, "samples.png");
  const sampled = await timed("sample 80 images", samplesPath, () =>
    sampleOnnxJob(onnxPath, {
      spec,
      labels,
      count: labels.length,
      steps: spec.sampling.steps,
      sampler: spec.sampling.sampler,
      seed: 0,
    }),
  );
  writePng(samplesPath, imageGrid(sampled.images, sampled.count, 32, 32, 1, perClass));
  io.out(`   NFE ${sampled.nfe} per image; rows: ${data.classNames.join(", ")}`);

  io.out("\n== outputs");
  for (const [label, seconds, where] of timings)
    io.out(`   ${label.padEnd(18)} ${seconds.toFixed(1).padStart(7)} s   ${where}`);
  io.out(`   ${"EMA weights".padEnd(18)} ${"".padStart(7)}     ${result.emaPath}`);
  io.out(`   ${"loss curve".padEnd(18)} ${"".padStart(7)}     ${join(trainDir, "loss.png")}`);
  return EXIT.ok;
}
