// `npm run bench`: measures and writes bench/results.json and bench/results.md.
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { humanCount, table } from "../src/compiler/report.ts";
import { describeBackend, selectBackend } from "../src/runtime/backend.ts";
import { rerunWithHugePages } from "../src/runtime/huge-pages.ts";
import { benchFrontEnd, specFiles } from "./front-end.ts";
import { benchOnnxForward, benchSampling } from "./onnx.ts";
import { benchTfjsStep, type StepRow } from "./tfjs-step.ts";
import { benchTrainEngines, trainEnginesMarkdown } from "./train-engines.ts";

// Large allocations on huge pages, as the CLI runs (src/runtime/huge-pages.ts).
const rerun = await rerunWithHugePages();
if (rerun !== undefined) process.exit(rerun);

const REPEATS = 7;
const files = specFiles();
const started = performance.now();

// Warm-up pass: module loading and the JIT are not what the bench measures.
benchFrontEnd(files, 1, false);
const rows = benchFrontEnd(files, REPEATS, false);
const total = rows.reduce((s, r) => s + r.totalMs, 0);

// The TypeScript checker on .ts specs is measured apart: it dominates, and `--no-typecheck` skips it.
const tsFiles = files.filter((f) => f.endsWith(".ts"));
const firstCheck = performance.now();
benchFrontEnd(tsFiles.slice(0, 1), 1, true);
const firstCheckMs = performance.now() - firstCheck;
const typed = benchFrontEnd(tsFiles, 3, true);

// tfjs model steps on the selected backend (--backend NAME or DIFFIT_BACKEND).
const flag = process.argv.indexOf("--backend");
const backend = await selectBackend(flag > 0 ? process.argv[flag + 1] : undefined);
process.stderr.write(`${describeBackend(backend)}\n`);
const quick = process.argv.includes("--quick");
const steps: StepRow[] = [await benchTfjsStep("specs/tiny-fmnist.json", 64, 3)];
// Full-width CIFAR needs ~2 GB of activations per sample on wasm (4 GB heap): batch 8 is
// trained as 8 micro-batches of 1 with averaged gradients, the same update.
if (!quick) steps.push(await benchTfjsStep("specs/diffit-cifar10.json", 8, 1, 1));

// The ONNX training engine against the tfjs step just measured, with a MatMul ceiling.
const tinyStep = steps[0];
if (!tinyStep) throw new Error("the tiny-fmnist tfjs step was not measured");
const engines = await benchTrainEngines("specs/tiny-fmnist.json", tinyStep, backend.name);
const cifarStep = steps[1];
const cifarEngines = cifarStep
  ? await benchTrainEngines("specs/diffit-cifar10.json", cifarStep, backend.name)
  : undefined;

// ONNX Runtime: forward per batch, and sampling throughput on both engines.
const onnxRows = [await benchOnnxForward("specs/tiny-fmnist.json", 64, 5)];
if (!quick) onnxRows.push(await benchOnnxForward("specs/diffit-cifar10.json", 8, 3));
const sampling = await benchSampling("specs/tiny-fmnist.json", quick ? ["onnx"] : ["onnx", "tfjs"]);

const results = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "unknown", node: process.version },
  frontEnd: {
    repeats: REPEATS,
    targetMs: 1000,
    totalMs: total,
    specs: rows.reduce((s, r) => s + r.specs, 0),
    rows,
  },
  typecheck: { firstMs: firstCheckMs, rows: typed },
  tfjs: { backend: backend.name, steps },
  trainEngines: engines,
  ...(cifarEngines ? { trainEnginesCifar: cifarEngines } : {}),
  onnx: { forward: onnxRows, sampling },
  peakRssBytes: process.resourceUsage().maxRSS * 1024,
  wallMs: performance.now() - started,
};
writeFileSync("bench/results.json", `${JSON.stringify(results, null, 2)}\n`);

const ms = (x: number) => x.toFixed(1);
const md = [
  "# diffit bench",
  "",
  `${results.date} · ${results.machine.model} × ${results.machine.cpus} · Node ${results.machine.node}`,
  "",
  `## Front end: validate + resolve + IR + analysis (median of ${REPEATS}, ms)`,
  "",
  table(
    ["spec file", "specs", "front end", "IR", "analysis", "total"],
    [
      ...rows.map((r) => [
        r.file,
        String(r.specs),
        ms(r.frontEndMs),
        ms(r.irMs),
        ms(r.analysisMs),
        ms(r.totalMs),
      ]),
      ["all", String(results.frontEnd.specs), "", "", "", ms(total)],
    ],
    [1, 2, 3, 4, 5],
  ).replace(/^/gm, "    "),
  "",
  `Target: all specs under 1000 ms together: ${total < 1000 ? "met" : "NOT met"} (${ms(total)} ms).`,
  "",
  "## TypeScript specs with the type checker (ms)",
  "",
  `First check in a process (loads the TypeScript program): ${ms(firstCheckMs)} ms.`,
  "",
  table(
    ["spec file", "total (median of 3)"],
    typed.map((r) => [r.file, ms(r.totalMs)]),
    [1],
  ).replace(/^/gm, "    "),
  "",
  `## tfjs model on ${backend.name}: one step (median, ms)`,
  "",
  "GFLOP/s from the IR's MAC count: 2 FLOPs per MAC, a training step (forward, backward, Adam) as 3 forwards.",
  "",
  table(
    ["spec", "batch", "forward", "GFLOP/s", "train step", "GFLOP/s", "micro-batch"],
    steps.map((r) => [
      r.spec,
      String(r.batch),
      ms(r.forwardMs),
      r.forwardGflops.toFixed(2),
      ms(r.trainStepMs),
      r.trainGflops.toFixed(2),
      String(r.microBatch),
    ]),
    [1, 2, 3, 4, 5, 6],
  ).replace(/^/gm, "    "),
  "",
  "Where a training step's kernel time goes (tf.profile; kernels that call other kernels count both):",
  "",
  ...steps.map(
    (r) => `- ${r.spec}: ${r.topKernels.map((k) => `${k.kernel} ${(100 * k.share).toFixed(0)}%`).join(", ")}`,
  ),
  "",
  ...trainEnginesMarkdown("tiny-fmnist", engines),
  ...(cifarEngines ? trainEnginesMarkdown("diffit-cifar10 (tfjs: 8 micro-batches of 1)", cifarEngines) : []),
  "## ONNX Runtime (onnxruntime-node, CPU, intra-op threads = cores): forward (median, ms)",
  "",
  table(
    ["spec", "batch", "forward", "GFLOP/s", "tfjs forward", "speed-up"],
    onnxRows.map((r) => {
      const t = steps.find((s) => s.spec === r.spec && s.batch === r.batch);
      return [
        r.spec,
        String(r.batch),
        ms(r.forwardMs),
        r.gflops.toFixed(1),
        t ? ms(t.forwardMs) : "-",
        t ? `${(t.forwardMs / r.forwardMs).toFixed(1)}×` : "-",
      ];
    }),
    [1, 2, 3, 4, 5],
  ).replace(/^/gm, "    "),
  "",
  "## Sampling: 80 class-conditional images, Heun 18 steps with guidance (NFE 35, batch 160 per call)",
  "",
  table(
    ["spec", "engine", "seconds", "images/s"],
    sampling.map((r) => [r.spec, r.engine, r.seconds.toFixed(1), r.imagesPerSecond.toFixed(2)]),
    [2, 3],
  ).replace(/^/gm, "    "),
  "",
  `Training throughput (tiny-fmnist, batch 64, ${backend.name}): ${(1000 / (steps[0]?.trainStepMs ?? 1)).toFixed(2)} steps/s = ${((64 * 1000) / (steps[0]?.trainStepMs ?? 1)).toFixed(1)} images/s.`,
  "",
  `Peak RSS: ${humanCount(results.peakRssBytes)}B.`,
  "",
].join("\n");
writeFileSync("bench/results.md", md);
process.stdout.write(md);
