// The ONNX training engine's step (forward, EDM loss, backward, clipping, Adam, EMA in one
// onnxruntime call) and an onnxruntime MatMul ceiling on the same threads, so the achieved
// fraction of the machine's dense-math peak is measured in the same run as the step.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { analyze } from "../src/compiler/analysis.ts";
import { DataType, onnx } from "../src/compiler/emit/onnx/proto.ts";
import { renderGraph } from "../src/compiler/emit/onnx/render.ts";
import { buildGraph } from "../src/compiler/ir/build.ts";
import type { ParamDef } from "../src/compiler/ir/types.ts";
import { runFrontEnd } from "../src/compiler/pipeline.ts";
import { TensorGraph } from "../src/compiler/tensor/graph.ts";
import { initialValues } from "../src/runtime/init.ts";
import { ort } from "../src/runtime/onnx/session.ts";
import { Rng } from "../src/runtime/random.ts";
import type { Batch } from "../src/runtime/training/batch.ts";
import { openOnnxStepper } from "../src/runtime/training/onnx-engine.ts";
import { type KernelSplit, readKernelSplit } from "./step-profile.ts";

export interface OnnxTrainRow {
  spec: string;
  batch: number;
  /** Intra-op threads per session. */
  threads: number;
  /** Data-parallel replicas (sessions side by side on slices of the batch). */
  replicas: number;
  compileMs: number;
  trainStepMs: number;
  /** 6 FLOPs per MAC (forward, backward), as the tfjs rows count them. */
  trainGflops: number;
  /** 6 FLOPs per MAC. */
  flops: number;
  /** onnxruntime's profile of the last step (the main replica's session), when asked for. */
  kernels?: KernelSplit;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/**
 * The engine's own step (openOnnxStepper: batch layout, dropout masks, sessions, gradient
 * averaging across replicas) on random data: one session on `threads` intra-op threads, or
 * `replicas` single-threaded replicas on slices of the batch.
 */
export async function benchOnnxTrainStep(
  file: string,
  batch: number,
  repeats: number,
  layout: { threads: number; replicas?: undefined } | { replicas: number; threads?: undefined },
  /** Also record onnxruntime's profile (its timestamps cost ~1 µs per node and run). */
  profile = false,
): Promise<OnnxTrainRow> {
  const entry = runFrontEnd(file).entries[0];
  if (!entry) throw new Error(`${file} is invalid`);
  const graph = buildGraph(entry.spec);
  const macs = analyze(graph).totals.macs * batch;
  const t = entry.spec.training;
  const zeros = (p: { shape: readonly number[] }) => new Float32Array(p.shape.reduce((a, b) => a * b, 1));
  const values = {
    model: (p: ParamDef) => initialValues(p, 0),
    ema: (p: ParamDef) => initialValues(p, 0),
    adamM: zeros,
    adamV: zeros,
  };
  const profileDir = profile ? mkdtempSync(join(tmpdir(), "diffit-profile-")) : undefined;
  const t0 = performance.now();
  const stepper = await openOnnxStepper(
    entry,
    {
      ...t,
      batchSize: batch,
      microBatch: batch,
      seed: 1,
      profile: profileDir && join(profileDir, "step"),
      ...(layout.replicas ? { replicas: layout.replicas } : { replicas: 1, threads: layout.threads }),
    },
    values,
    0,
  );
  const compileMs = performance.now() - t0;
  const { size, channels } = entry.spec.input;
  const rng = new Rng(1, "bench-train");
  const n = batch * size * size * channels;
  const classes = entry.spec.conditioning.classes;
  const data: Batch = {
    images: Float32Array.from({ length: n }, () => Math.tanh(rng.normal())),
    noise: Float32Array.from({ length: n }, () => rng.normal()),
    labels: classes > 0 ? Int32Array.from({ length: batch }, (_, i) => i % classes) : undefined,
    levels: Array.from({ length: batch }, () => Math.exp(-1.2 + 1.2 * rng.normal())),
  };
  const times: number[] = [];
  // Two warm-up steps: the first runs allocate onnxruntime's arena and plan memory.
  for (let i = 0; i < repeats + 2; i++) {
    const s = performance.now();
    await stepper.step(data, i, 1e-4);
    if (i >= 2) times.push(performance.now() - s);
  }
  let kernels: KernelSplit | undefined;
  if (profileDir) {
    stepper.endProfiling();
    kernels = readKernelSplit(profileDir);
    rmSync(profileDir, { recursive: true, force: true });
  }
  await stepper.dispose();
  const trainStepMs = median(times);
  return {
    spec: entry.name,
    batch,
    threads: layout.threads ?? 1,
    replicas: stepper.plan.replicas,
    compileMs,
    trainStepMs,
    trainGflops: (6 * macs) / (trainStepMs * 1e6),
    flops: 6 * macs,
    ...(kernels ? { kernels } : {}),
  };
}

/** onnxruntime MatMul of two n×n float32 matrices: GFLOP/s of the fastest of `repeats` runs. */
export async function benchMatMulCeiling(n: number, threads: number, repeats: number): Promise<number> {
  const b = new TensorGraph();
  b.alias(b.op("MatMul", [b.input("a", [n, n]), b.input("b", [n, n])], "mm"), "c");
  const info = (name: string) => ({
    name,
    type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: n }, { dimValue: n }] } } },
  });
  const bytes = onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name: "matmul",
      node: renderGraph(b, 17).nodes,
      input: [info("a"), info("b")],
      output: [info("c")],
    },
  }).finish();
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads });
  const rng = new Rng(2, "matmul");
  const m = () =>
    new ort.Tensor(
      "float32",
      Float32Array.from({ length: n * n }, () => rng.normal()),
      [n, n],
    );
  const feeds = { a: m(), b: m() };
  await session.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const s = performance.now();
    await session.run(feeds);
    times.push(performance.now() - s);
  }
  await session.release();
  return (2 * n ** 3) / (Math.min(...times) * 1e6);
}
