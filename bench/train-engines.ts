// Training engines side by side on one model and batch: the tfjs step (measured by
// tfjs-step.ts on the selected backend), the ONNX engine's compiled step on 1 thread and on
// every core, and the onnxruntime MatMul ceiling on the same thread counts.
import { cpus } from "node:os";
import { table } from "../src/compiler/report.ts";
import { benchMatMulCeiling, benchOnnxTrainStep, type OnnxTrainRow } from "./onnx-train.ts";
import type { KernelSplit } from "./step-profile.ts";
import type { StepRow } from "./tfjs-step.ts";
import { benchTorchStep, type TorchBaseline, torchUnavailable } from "./torch/torch-step.ts";

export interface TrainEngines {
  tfjs: { backend: string; batch: number; trainStepMs: number; trainGflops: number };
  onnx: (OnnxTrainRow & { ceilingGflops: number; ofCeiling: number; speedup: number })[];
  /** The same network trained by PyTorch on this CPU (bench/torch), or why it was skipped. */
  torch: TorchBaseline | { skipped: string };
}

export async function benchTrainEngines(
  file: string,
  tfjsRow: StepRow,
  backend: string,
): Promise<TrainEngines> {
  const cores = cpus().length;
  // One session on 1 thread and on every core; and, where the batch splits evenly, one
  // single-threaded replica per core (the engine's choice for narrow models).
  const layouts: ({ threads: number } | { replicas: number })[] = [...new Set([1, cores])].map((n) => ({
    threads: n,
  }));
  if (cores > 1 && tfjsRow.batch % cores === 0) layouts.push({ replicas: cores });
  const onnx: TrainEngines["onnx"] = [];
  for (const layout of layouts) {
    // The ceiling on as many threads as the layout keeps busy: its best run, measured just before
    // and just after the steps (the VM's speed drifts by tens of percent within minutes).
    const threads = "threads" in layout ? layout.threads : layout.replicas;
    const before = await benchMatMulCeiling(2048, threads, 5);
    // The single-threaded step is also profiled: how its kernel time splits (step-profile.ts).
    const single = "threads" in layout && layout.threads === 1;
    const row = await benchOnnxTrainStep(file, tfjsRow.batch, 5, layout, single);
    const ceilingGflops = Math.max(before, await benchMatMulCeiling(2048, threads, 5));
    onnx.push({
      ...row,
      ceilingGflops,
      ofCeiling: row.trainGflops / ceilingGflops,
      speedup: tfjsRow.trainStepMs / row.trainStepMs,
    });
  }
  const missing = torchUnavailable();
  const torch = missing
    ? { skipped: missing }
    : await benchTorchStep(file, tfjsRow.batch, [...new Set([1, cores])], tfjsRow.batch > 8 ? 9 : 5);
  return {
    torch,
    tfjs: {
      backend,
      batch: tfjsRow.batch,
      trainStepMs: tfjsRow.trainStepMs,
      trainGflops: tfjsRow.trainGflops,
    },
    onnx,
  };
}

export function trainEnginesMarkdown(spec: string, r: TrainEngines): string[] {
  const ms = (x: number) => x.toFixed(0);
  return [
    `## Training engines: ${spec}, batch ${r.tfjs.batch}, one step (median, ms)`,
    "",
    "GFLOP/s from the IR's MAC count, 6 FLOPs per MAC (forward and backward). The ceiling is an",
    "onnxruntime MatMul 2048³ on as many threads as the engine keeps busy (replicas × threads):",
    "the fastest of 5 runs just before and 5 just after the engine's steps. Targets (issue 8):",
    "≥ 8× the tfjs steps/s and ≥ 30 % of the ceiling.",
    "",
    table(
      [
        "engine",
        "replicas × threads",
        "ms/step",
        "steps/s",
        "GFLOP/s",
        "ceiling GFLOP/s",
        "of ceiling",
        "vs tfjs",
      ],
      [
        [
          `tfjs ${r.tfjs.backend}`,
          "1 × 1",
          ms(r.tfjs.trainStepMs),
          (1000 / r.tfjs.trainStepMs).toFixed(2),
          r.tfjs.trainGflops.toFixed(1),
          "",
          "",
          "1×",
        ],
        ...r.onnx.map((o) => [
          "onnx",
          `${o.replicas} × ${o.threads}`,
          ms(o.trainStepMs),
          (1000 / o.trainStepMs).toFixed(2),
          o.trainGflops.toFixed(1),
          o.ceilingGflops.toFixed(0),
          `${(100 * o.ofCeiling).toFixed(0)} %`,
          `${o.speedup.toFixed(1)}×`,
        ]),
        ...("rows" in r.torch ? torchRows(r, r.torch) : []),
      ],
      [1, 2, 3, 4, 5, 6, 7],
    ).replace(/^/gm, "    "),
    "",
    ...torchLines(r),
    `Compiling the ONNX step (IR → forward, loss, backward, optimizer graph) and opening the session: ${ms(r.onnx[0]?.compileMs ?? 0)} ms.`,
    "",
    ...r.onnx.flatMap((o) => (o.kernels ? kernelLines(o, o.kernels) : [])),
  ];
}

/** PyTorch's rows, against the onnxruntime ceiling measured for the same number of threads. */
function torchRows(r: TrainEngines, t: TorchBaseline): string[][] {
  return t.rows.map((row) => {
    const ceiling = r.onnx.find((o) => o.replicas === 1 && o.threads === row.threads)?.ceilingGflops;
    return [
      `pytorch ${t.torch}`,
      `1 × ${row.threads}`,
      row.trainStepMs.toFixed(0),
      (1000 / row.trainStepMs).toFixed(2),
      row.trainGflops.toFixed(1),
      ceiling ? ceiling.toFixed(0) : "",
      ceiling ? `${((100 * row.trainGflops) / ceiling).toFixed(0)} %` : "",
      `${(r.tfjs.trainStepMs / row.trainStepMs).toFixed(1)}×`,
    ];
  });
}

function torchLines(r: TrainEngines): string[] {
  const t = r.torch;
  if (!("rows" in t)) return [`PyTorch baseline skipped: ${t.skipped}.`, ""];
  const best = Math.min(...t.rows.map((row) => row.trainStepMs));
  const fastest = Math.min(...r.onnx.map((o) => o.trainStepMs));
  return [
    "PyTorch: the same network emitted from the IR (bench/torch), EDM loss, autograd, gradient",
    "clipping, Adam and EMA, on Debian's torch with OpenBLAS set to this CPU (one OpenBLAS thread",
    "under torch's intra-op threads, its fastest setting here). Its forward pass matches",
    `onnxruntime's on the same weights and inputs within ${t.forwardRelativeError.toExponential(1)} of the output's largest value.`,
    `Its own MatMul 2048³ (OpenBLAS, one thread) reaches ${Math.max(...t.rows.map((row) => row.matmulGflops)).toFixed(0)} GFLOP/s.`,
    `The fastest ONNX layout takes ${(best / fastest).toFixed(1)}× less time per step than PyTorch's fastest.`,
    "",
  ];
}

/** What onnxruntime's profile of the 1 × 1 step says about the ceiling share a standard-op step can reach. */
function kernelLines(o: TrainEngines["onnx"][number], k: KernelSplit): string[] {
  const ms = (x: number) => x.toFixed(0);
  const bound = o.flops / (k.denseMs * 1e6) / o.ceilingGflops;
  return [
    `onnxruntime's profile of the ${o.replicas} × ${o.threads} step (its last run, ${ms(k.runMs)} ms): the dense ops`,
    `(Conv, MatMul, Gemm and their fusions; ${k.denseNodes} kernels) took ${ms(k.denseMs)} ms, the other ${k.otherNodes}`,
    `kernels (elementwise, normalisation, transposes, slices) ${ms(k.otherMs)} ms. Were those free, the step`,
    `would reach ${(100 * bound).toFixed(0)} % of its ceiling; it reaches ${(100 * o.ofCeiling).toFixed(0)} %.`,
    "",
  ];
}
