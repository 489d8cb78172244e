#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so a clean clone needs no build step.
import { register } from "tsx/esm/api";

register();
// Commands that move large tensors through onnxruntime run with large allocations on huge pages.
const heavy = ["train", "demo", "sample", "eval"].includes(process.argv[2] ?? "");
const { rerunWithHugePages } = await import("../src/runtime/huge-pages.ts");
const rerun = heavy ? await rerunWithHugePages() : undefined;
if (rerun !== undefined) process.exitCode = rerun;
else {
  const { main } = await import("../src/cli.ts");
  process.exitCode = await main(process.argv);
}
