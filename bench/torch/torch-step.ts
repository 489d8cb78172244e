// The PyTorch baseline of the training-engine bench: the same network, emitted from the IR
// (emit.ts), trained by PyTorch on this CPU (step.py), and checked against onnxruntime on the
// same weights and inputs before it is timed, so the baseline is known to be the same model.
// Needs Debian's python3-torch (and libopenblas0-pthread, RUNTIME.md); absent, it is skipped.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { analyze } from "../../src/compiler/analysis.ts";
import { buildGraph } from "../../src/compiler/ir/build.ts";
import type { ResolvedEntry } from "../../src/compiler/pipeline.ts";
import {
  encodeSafetensors,
  float32Tensor,
  type StoredTensor,
} from "../../src/runtime/checkpoint/safetensors.ts";
import { exportOnnx } from "../../src/runtime/onnx/export-model.ts";
import { openSession, ort } from "../../src/runtime/onnx/session.ts";
import { Rng } from "../../src/runtime/random.ts";
import { liveWeights } from "../onnx.ts";
import { emitTorchModule } from "./emit.ts";

const PYTHON = "/usr/bin/python3";
const HERE = dirname(fileURLToPath(import.meta.url));

export interface TorchRow {
  threads: number;
  trainStepMs: number;
  trainGflops: number;
  /** PyTorch's own MatMul 2048³ (one OpenBLAS thread), best of 5. */
  matmulGflops: number;
}

export interface TorchBaseline {
  torch: string;
  batch: number;
  /** max |torch − onnxruntime| / max |onnxruntime| of the raw network on one batch. */
  forwardRelativeError: number;
  rows: TorchRow[];
}

/** Why the baseline cannot run here, or undefined when it can. */
export function torchUnavailable(): string | undefined {
  const r = spawnSync(PYTHON, ["-c", "import torch"], { encoding: "utf8" });
  return r.status === 0 ? undefined : `${PYTHON} cannot import torch (apt install python3-torch)`;
}

function runPython(config: object, dir: string, threads = 1): unknown {
  const path = join(dir, "config.json");
  writeFileSync(path, JSON.stringify(config));
  // Debian's OpenBLAS detects this CPU as Prescott (28 GFLOP/s) unless told (RUNTIME.md). It sizes
  // its own thread pool from the environment, apart from torch.set_num_threads; PyTorch's fastest
  // setting here is one OpenBLAS thread under torch's intra-op threads: with both at 2 the cores
  // are oversubscribed (2 threads: tiny-fmnist 810 against 405 ms, diffit-cifar10 4.6 against 3.3 s).
  const env = {
    ...process.env,
    OPENBLAS_CORETYPE: process.env.OPENBLAS_CORETYPE ?? "SKYLAKEX",
    OPENBLAS_NUM_THREADS: "1",
    OMP_NUM_THREADS: String(threads),
  };
  const r = spawnSync(PYTHON, [join(HERE, "step.py"), path], { encoding: "utf8", env, maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`step.py failed (${r.status}):\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "null");
}

/** Emits the module and writes the weights; the config fields every mode shares. */
function prepare(entry: ResolvedEntry, weights: Map<string, Float32Array>) {
  const graph = buildGraph(entry.spec);
  const dir = mkdtempSync(join(tmpdir(), "diffit-torch-"));
  const { source, layouts } = emitTorchModule(graph);
  writeFileSync(join(dir, "model.py"), source);
  const tensors = new Map<string, StoredTensor>(
    graph.params.map((p) => [p.name, float32Tensor(weights.get(p.name) ?? new Float32Array(), p.shape)]),
  );
  writeFileSync(join(dir, "weights.safetensors"), encodeSafetensors({ tensors, metadata: {} }));
  const common = {
    module: dir,
    weights: join(dir, "weights.safetensors"),
    layouts,
    trainable: graph.params.filter((p) => p.trainable).map((p) => p.name),
  };
  return { entry, graph, weights, dir, common };
}

type Prepared = ReturnType<typeof prepare>;

/**
 * The raw network in PyTorch against onnxruntime's export of it, on the same weights and random
 * inputs: max |torch − onnxruntime| / max |onnxruntime|.
 */
export async function torchForwardError(
  entry: ResolvedEntry,
  weights: Map<string, Float32Array>,
  batch: number,
): Promise<number> {
  const ctx = prepare(entry, weights);
  try {
    return await forwardError(ctx, batch);
  } finally {
    rmSync(ctx.dir, { recursive: true, force: true });
  }
}

async function forwardError(
  { entry, graph, weights, dir, common }: Prepared,
  batch: number,
): Promise<number> {
  const { size, channels } = entry.spec.input;
  const rng = new Rng(2, "torch-parity");
  const x = Float32Array.from({ length: batch * channels * size * size }, () => rng.normal());
  const t = Float32Array.from({ length: batch }, () => rng.normal() / 2);
  const y = Int32Array.from({ length: batch }, (_, i) => i % Math.max(1, entry.spec.conditioning.classes));
  const inputs = new Map<string, StoredTensor>([
    ["x", float32Tensor(x, [batch, channels, size, size])],
    ["t", float32Tensor(t, [batch])],
  ]);
  if (graph.inputs.y !== undefined)
    inputs.set("y", { dtype: "I32", shape: [batch], bytes: new Uint8Array(y.buffer) });
  writeFileSync(join(dir, "inputs.safetensors"), encodeSafetensors({ tensors: inputs, metadata: {} }));
  const output = join(dir, "out.bin");
  runPython({ ...common, mode: "forward", inputs: join(dir, "inputs.safetensors"), output }, dir);
  const theirs = new Float32Array(Uint8Array.from(readFileSync(output)).buffer);

  const onnxPath = join(dir, "m.onnx");
  exportOnnx(entry, onnxPath, { opset: 17, fp16: false, denoiser: "raw", weights });
  const session = await openSession(onnxPath);
  const feeds: Record<string, ort.Tensor> = {
    x: new ort.Tensor("float32", x, [batch, channels, size, size]),
    t: new ort.Tensor("float32", t, [batch]),
  };
  if (graph.inputs.y !== undefined) feeds.y = new ort.Tensor("int64", BigInt64Array.from(y, BigInt), [batch]);
  const ours = Object.values(await session.run(feeds))[0]?.data as Float32Array;
  await session.release();
  if (ours.length !== theirs.length)
    throw new Error(`outputs differ in size: ${ours.length} vs ${theirs.length}`);
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < ours.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs((ours[i] ?? 0) - (theirs[i] ?? 0)));
    maxAbs = Math.max(maxAbs, Math.abs(ours[i] ?? 0));
  }
  return maxDiff / maxAbs;
}

export async function benchTorchStep(
  file: string,
  batch: number,
  threads: readonly number[],
  steps: number,
): Promise<TorchBaseline> {
  const { entry, weights } = liveWeights(file);
  const ctx = prepare(entry, weights);
  try {
    const forwardRelativeError = await forwardError(ctx, Math.min(batch, 4));
    const spec = entry.spec;
    if (spec.diffusion.kind !== "edm") throw new Error("the PyTorch baseline trains EDM specs only");
    const t = spec.training;
    const flops = 6 * analyze(ctx.graph).totals.macs * batch;
    const runs = threads.map(
      (n) =>
        runPython(
          {
            ...ctx.common,
            mode: "train",
            batch,
            size: spec.input.size,
            channels: spec.input.channels,
            classes: spec.conditioning.classes,
            labelDropout: spec.conditioning.labelDropout,
            edm: spec.diffusion,
            training: { ...t, gradClip: t.gradClip ?? 0 },
            threads: n,
            warmup: 2,
            steps,
          },
          ctx.dir,
          n,
        ) as { torch: string; threads: number; stepMs: number; matmulGflops: number },
    );
    return {
      torch: runs[0]?.torch ?? "",
      batch,
      forwardRelativeError,
      rows: runs.map((r) => ({
        threads: r.threads,
        trainStepMs: r.stepMs,
        trainGflops: flops / (r.stepMs * 1e6),
        matmulGflops: r.matmulGflops,
      })),
    };
  } finally {
    rmSync(ctx.dir, { recursive: true, force: true });
  }
}
