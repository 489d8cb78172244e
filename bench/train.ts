// `node --import tsx bench/train.ts [--cifar]`: only the training-engine comparison of `npm run
// bench` (tiny-fmnist, batch 64; with --cifar also diffit-cifar10 at batch 8, whose tfjs step runs
// as 8 micro-batches of 1), written to bench/train-results.{json,md}. Minutes on 2 cores.
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { humanCount } from "../src/compiler/report.ts";
import { selectBackend } from "../src/runtime/backend.ts";
import { rerunWithHugePages } from "../src/runtime/huge-pages.ts";
import { benchTfjsStep } from "./tfjs-step.ts";
import { benchTrainEngines, trainEnginesMarkdown } from "./train-engines.ts";

// Large allocations on huge pages, as the CLI runs (src/runtime/huge-pages.ts).
const rerun = await rerunWithHugePages();
if (rerun !== undefined) process.exit(rerun);

const file = "specs/tiny-fmnist.json";
const backend = await selectBackend("wasm");
const tfjsRow = await benchTfjsStep(file, 64, 3);
const engines = await benchTrainEngines(file, tfjsRow, backend.name);
const cifar = process.argv.includes("--cifar")
  ? await benchTrainEngines(
      "specs/diffit-cifar10.json",
      await benchTfjsStep("specs/diffit-cifar10.json", 8, 1, 1),
      backend.name,
    )
  : undefined;
const results = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "unknown", node: process.version },
  ...engines,
  ...(cifar ? { cifar } : {}),
  peakRssBytes: process.resourceUsage().maxRSS * 1024,
};
writeFileSync("bench/train-results.json", `${JSON.stringify(results, null, 2)}\n`);
const md = [
  "# diffit training-engine bench",
  "",
  `${results.date} · ${results.machine.model} × ${results.machine.cpus} · Node ${results.machine.node}`,
  "",
  ...trainEnginesMarkdown("tiny-fmnist", engines),
  ...(cifar ? trainEnginesMarkdown("diffit-cifar10 (tfjs: 8 micro-batches of 1)", cifar) : []),
  `Peak RSS of the process (both engines, one after the other): ${humanCount(results.peakRssBytes)}B.`,
  "",
].join("\n");
writeFileSync("bench/train-results.md", md);
process.stdout.write(md);
