// onnxruntime's own profile of a training step: how its kernel time splits between the dense ops
// (Conv, MatMul, Gemm and their fusions), which run near the MatMul ceiling, and everything else
// (elementwise, normalisation, softmax, transposes, slices), which is memory-bound. The dense
// ops' time alone bounds the share of the ceiling a step of standard ONNX ops could reach.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface KernelSplit {
  /** The last profiled run, wall time. */
  runMs: number;
  denseMs: number;
  denseNodes: number;
  otherMs: number;
  otherNodes: number;
}

/** onnxruntime's dense kernels, after its fusions. */
const DENSE = new Set(["Conv", "FusedConv", "ConvTranspose", "MatMul", "FusedMatMul", "Gemm", "FusedGemm"]);

interface ProfileEvent {
  cat?: string;
  name?: string;
  ts?: number;
  dur?: number;
  args?: { op_name?: string };
}

/** The kernel time of the last run in a profile's events (microsecond timestamps). */
export function kernelSplit(events: ProfileEvent[]): KernelSplit {
  const runs = events.filter((e) => e.name === "model_run");
  const last = runs[runs.length - 1];
  if (!last || last.ts === undefined || last.dur === undefined) throw new Error("the profile has no run");
  const [from, to] = [last.ts, last.ts + last.dur];
  const split: KernelSplit = { runMs: last.dur / 1000, denseMs: 0, denseNodes: 0, otherMs: 0, otherNodes: 0 };
  for (const e of events) {
    if (e.cat !== "Node" || !e.name?.endsWith("_kernel_time")) continue;
    if (e.ts === undefined || e.ts < from || e.ts > to) continue;
    const ms = (e.dur ?? 0) / 1000;
    if (DENSE.has(e.args?.op_name ?? "")) {
      split.denseMs += ms;
      split.denseNodes++;
    } else {
      split.otherMs += ms;
      split.otherNodes++;
    }
  }
  return split;
}

/** The split of the one profile onnxruntime wrote into `dir`. */
export function readKernelSplit(dir: string): KernelSplit {
  const files = readdirSync(dir).filter((f) => f.endsWith(".json"));
  if (files.length !== 1) throw new Error(`expected one profile in ${dir}, found ${files.length}`);
  return kernelSplit(JSON.parse(readFileSync(join(dir, files[0] ?? ""), "utf8")) as ProfileEvent[]);
}
