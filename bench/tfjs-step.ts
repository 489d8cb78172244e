// Times the tfjs model: forward, and forward + backward + Adam update, per step, with achieved
// GFLOP/s from the IR's MAC count (2 FLOPs per MAC; a training step counted as 3× forward) and
// the kernels that take the time.
import * as tf from "@tensorflow/tfjs";
import { analyze } from "../src/compiler/analysis.ts";
import { buildGraph } from "../src/compiler/ir/build.ts";
import { runFrontEnd } from "../src/compiler/pipeline.ts";
import { accumulateGradients } from "../src/runtime/tfjs/accumulate.ts";
import { TfjsModel } from "../src/runtime/tfjs/model.ts";
import { Adam } from "../src/runtime/training/adam.ts";

export interface StepRow {
  spec: string;
  batch: number;
  microBatch: number;
  forwardMs: number;
  trainStepMs: number;
  forwardGflops: number;
  trainGflops: number;
  /** Kernels by share of a training step's kernel time. */
  topKernels: { kernel: string; ms: number; share: number }[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/**
 * `microBatch` < `batch` splits the training step into micro-batches whose gradients are
 * averaged (the same update; see accumulate.ts), for models whose activations do not fit.
 */
export async function benchTfjsStep(
  file: string,
  batch: number,
  repeats: number,
  microBatch = batch,
): Promise<StepRow> {
  const entry = runFrontEnd(file).entries[0];
  if (!entry) throw new Error(`${file} is invalid`);
  const graph = buildGraph(entry.spec);
  const macs = analyze(graph).totals.macs * batch;
  const model = TfjsModel.create(graph, 0);
  const shape = graph.nodes[graph.inputs.x ?? -1]?.out.shape.slice(1) as number[];
  const x = tf.randomNormal([batch, ...shape]);
  const t = tf.randomUniform([batch], -1, 1);
  const y =
    graph.inputs.y === undefined
      ? undefined
      : tf.tensor1d(
          Array.from({ length: batch }, (_, i) => i % 10),
          "int32",
        );
  const target = tf.randomNormal([batch, ...shape]);
  const optimizer = new Adam(model.variables, {
    kind: "adam",
    betas: [0.9, 0.999],
    eps: 1e-8,
    weightDecay: 0,
  });
  const forward = () => {
    const out = tf.tidy(() => tf.sum(model.forward({ x, t, y }, { release: true })));
    out.dataSync();
    out.dispose();
  };
  const parts = Math.ceil(batch / microBatch);
  const part = (v: tf.Tensor | undefined, i: number) =>
    v && parts > 1 ? tf.slice(v, i * microBatch, microBatch) : v;
  const train = () => {
    const { grads } = accumulateGradients(model.variables, parts, (i) =>
      tf.tidy(() => {
        const inputs = { x: part(x, i) as tf.Tensor, t: part(t, i) as tf.Tensor, y: part(y, i) };
        const out = model.forward(inputs, { training: true });
        return tf.mean(tf.square(tf.sub(out, part(target, i) as tf.Tensor))) as tf.Scalar;
      }),
    );
    optimizer.apply(grads, 1e-4);
    tf.dispose(Object.values(grads));
  };
  forward();
  train();
  const fw: number[] = [];
  const tr: number[] = [];
  for (let i = 0; i < repeats; i++) {
    let t0 = performance.now();
    forward();
    fw.push(performance.now() - t0);
    t0 = performance.now();
    train();
    tr.push(performance.now() - t0);
  }
  const profile = await tf.profile(train);
  const byKernel = new Map<string, number>();
  for (const k of profile.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + Number(k.kernelTimeMs));
  const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
  const topKernels = [...byKernel.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([kernel, ms]) => ({ kernel, ms, share: ms / total }));
  tf.dispose([x, t, target, ...(y ? [y] : [])]);
  optimizer.dispose();
  model.dispose();
  const forwardMs = median(fw);
  const trainStepMs = median(tr);
  return {
    spec: entry.name,
    batch,
    microBatch: Math.min(microBatch, batch),
    forwardMs,
    trainStepMs,
    forwardGflops: (2 * macs) / (forwardMs * 1e6),
    trainGflops: (6 * macs) / (trainStepMs * 1e6),
    topKernels,
  };
}
