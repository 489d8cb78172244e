// `node --import tsx bench/train.ts`: only the training-engine comparison of `npm run bench`
// (tiny-fmnist, batch 64), written to bench/train-results.{json,md}. A few minutes on 2 cores.
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { humanCount } from "../src/compiler/report.ts";
import { selectBackend } from "../src/runtime/backend.ts";
import { benchTfjsStep } from "./tfjs-step.ts";
import { benchTrainEngines, trainEnginesMarkdown } from "./train-engines.ts";

const file = "specs/tiny-fmnist.json";
const backend = await selectBackend("wasm");
const tfjsRow = await benchTfjsStep(file, 64, 3);
const engines = await benchTrainEngines(file, tfjsRow, backend.name);
const results = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "unknown", node: process.version },
  ...engines,
  peakRssBytes: process.resourceUsage().maxRSS * 1024,
};
writeFileSync("bench/train-results.json", `${JSON.stringify(results, null, 2)}\n`);
const md = [
  "# diffit training-engine bench",
  "",
  `${results.date} · ${results.machine.model} × ${results.machine.cpus} · Node ${results.machine.node}`,
  "",
  ...trainEnginesMarkdown("tiny-fmnist", engines),
  `Peak RSS of the process (both engines, one after the other): ${humanCount(results.peakRssBytes)}B.`,
  "",
].join("\n");
writeFileSync("bench/train-results.md", md);
process.stdout.write(md);
