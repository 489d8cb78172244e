// ONNX Runtime against tfjs on the same model: forward time per batch and sampling throughput.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sampleOnnxJob, sampleTfjsJob } from "../src/commands/sample.ts";
import { analyze } from "../src/compiler/analysis.ts";
import { buildGraph } from "../src/compiler/ir/build.ts";
import { runFrontEnd } from "../src/compiler/pipeline.ts";
import { perturbedValues } from "../src/runtime/init.ts";
import { exportOnnx } from "../src/runtime/onnx/export-model.ts";
import { openSession, ort } from "../src/runtime/onnx/session.ts";
import { Rng } from "../src/runtime/random.ts";

export interface OnnxRow {
  spec: string;
  batch: number;
  forwardMs: number;
  gflops: number;
}

export interface SamplingRow {
  spec: string;
  engine: string;
  images: number;
  nfe: number;
  seconds: number;
  imagesPerSecond: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

export function liveWeights(file: string) {
  const entry = runFrontEnd(file).entries[0];
  if (!entry) throw new Error(`${file} is invalid`);
  const graph = buildGraph(entry.spec);
  return { entry, graph, weights: perturbedValues(graph.params, 0.02, new Rng(1, "bench")) };
}

export async function benchOnnxForward(file: string, batch: number, repeats: number): Promise<OnnxRow> {
  const { entry, graph, weights } = liveWeights(file);
  const path = join(mkdtempSync(join(tmpdir(), "diffit-bench-")), "m.onnx");
  exportOnnx(entry, path, { opset: 17, fp16: false, denoiser: "raw", weights });
  const session = await openSession(path);
  const { size, channels } = entry.spec.input;
  const feeds: Record<string, ort.Tensor> = {
    x: new ort.Tensor("float32", new Float32Array(batch * size * size * channels).fill(0.1), [
      batch,
      channels,
      size,
      size,
    ]),
    t: new ort.Tensor("float32", new Float32Array(batch).fill(0.3), [batch]),
  };
  if (graph.inputs.y !== undefined) feeds.y = new ort.Tensor("int64", new BigInt64Array(batch), [batch]);
  await session.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t0);
  }
  await session.release();
  const forwardMs = median(times);
  return {
    spec: entry.name,
    batch,
    forwardMs,
    gflops: (2 * analyze(graph).totals.macs * batch) / (forwardMs * 1e6),
  };
}

/** 80 class-conditional images, 18 Heun steps with guidance (NFE 35), on each engine. */
export async function benchSampling(
  file: string,
  engines: readonly ("onnx" | "tfjs")[],
): Promise<SamplingRow[]> {
  const { entry, weights } = liveWeights(file);
  const path = join(mkdtempSync(join(tmpdir(), "diffit-bench-")), "m.onnx");
  exportOnnx(entry, path, { opset: 17, fp16: false, denoiser: "edm", weights });
  const labels = Array.from({ length: 80 }, (_, i) => Math.floor(i / 8));
  const job = { spec: entry.spec, labels, count: 80, steps: 18, sampler: "heun", seed: 0 };
  const rows: SamplingRow[] = [];
  for (const engine of engines) {
    const r = engine === "onnx" ? await sampleOnnxJob(path, job) : sampleTfjsJob(weights, job);
    rows.push({
      spec: entry.name,
      engine,
      images: r.count,
      nfe: r.nfe,
      seconds: r.seconds,
      imagesPerSecond: r.count / r.seconds,
    });
  }
  return rows;
}
