// The tfjs training engine: the model, Adam/AdamW and the EMA as tfjs variables, and a step of
// micro-batched gradients, global-norm clipping, the warm-up learning rate and the EMA update.
// The loop around it (batches, resume, checkpoints, grids, Ctrl-C, time budget, non-finite
// losses) is loop.ts, shared with the ONNX engine.
import * as tf from "@tensorflow/tfjs";
import { ADAM_EPS } from "../../compiler/formulas/adam.ts";
import { buildGraph } from "../../compiler/ir/build.ts";
import type { ResolvedEntry } from "../../compiler/pipeline.ts";
import type { Dataset } from "../data/dataset.ts";
import { ddpmLoss, GaussianDiffusion } from "../diffusion/ddpm.ts";
import { edmLoss, type Network } from "../diffusion/edm.ts";
import { imageGrid } from "../images/png.ts";
import { sampleImages } from "../sampling/sample.ts";
import { accumulateGradients } from "../tfjs/accumulate.ts";
import { TfjsModel, type Weights } from "../tfjs/model.ts";
import { Adam, clipByGlobalNorm } from "./adam.ts";
import { Ema } from "./ema.ts";
import { runTraining, type TrainOptions, type TrainResult } from "./loop.ts";
import { variableArrays } from "./train-state.ts";

export { type TrainOptions, type TrainResult, trainPaths } from "./loop.ts";

/** What a training grid samples: one row of `perClass` per class (conditional) or 4×4. */
export function gridLayout(
  spec: ResolvedEntry["spec"],
  perClass = 8,
): { labels?: number[]; count: number; columns: number } {
  const classes = spec.conditioning.classes;
  if (classes === 0) return { count: 16, columns: 4 };
  const labels = Array.from({ length: classes * perClass }, (_, i) => Math.floor(i / perClass));
  return { labels, count: labels.length, columns: perClass };
}

/** A sample grid with the EMA weights, on tfjs: one row per class (conditional) or 4×4 (unconditional). */
export function sampleGrid(
  entry: ResolvedEntry,
  weights: Weights,
  steps: number,
  seed: number,
  perClass = 8,
) {
  const spec = entry.spec;
  const graph = buildGraph(spec);
  const model = TfjsModel.fromWeights(graph, weights);
  try {
    const { labels, count: n, columns } = gridLayout(spec, perClass);
    const net: Network = (x, t, y) => model.forward({ x, t, y }, { release: true });
    const { size, channels } = spec.input;
    const { images, nfe } = sampleImages(spec, net, {
      count: n,
      ...(labels ? { labels } : {}),
      steps,
      sampler: spec.sampling.sampler,
      seed,
      guidance: { ...spec.sampling.guidance },
    });
    const values = images.dataSync() as Float32Array;
    images.dispose();
    return {
      grid: imageGrid(values, n, size, size, channels, columns),
      nfe,
      values,
      labels,
      count: n,
      columns,
    };
  } finally {
    model.dispose();
  }
}

export async function train(entry: ResolvedEntry, data: Dataset, o: TrainOptions): Promise<TrainResult> {
  const spec = entry.spec;
  const diffusion = spec.diffusion;
  const ddpm = diffusion.kind === "ddpm" ? GaussianDiffusion.fromConfig(diffusion) : undefined;
  type LossOf = (net: Network, x: tf.Tensor, noise: tf.Tensor, levels: number[], y?: tf.Tensor) => tf.Scalar;
  const lossOf: LossOf =
    diffusion.kind === "edm"
      ? (net, x, noise, levels, y) => edmLoss(diffusion, net, x, noise, levels, y)
      : (net, x, noise, levels, y) =>
          ddpmLoss(ddpm ?? GaussianDiffusion.fromConfig(diffusion), net, x, noise, levels, y);
  const parts = Math.ceil(o.batchSize / Math.max(1, Math.min(o.microBatch, o.batchSize)));
  const per = Math.ceil(o.batchSize / parts);
  const grid = (weights: Weights) => sampleGrid(entry, weights, o.sampleSteps, o.seed);
  return runTraining(
    entry,
    data,
    o,
    async (graph, resumed) => {
      const model = o.init ? TfjsModel.fromWeights(graph, o.init) : TfjsModel.create(graph, o.seed);
      const ema = new Ema(model.variables, o.emaDecay);
      const adam = new Adam(model.variables, {
        kind: o.optimizer,
        betas: o.betas,
        eps: ADAM_EPS,
        weightDecay: o.weightDecay,
      });
      if (resumed) {
        const assign = (vars: ReadonlyMap<string, tf.Variable>, from: Map<string, Float32Array>) => {
          for (const [name, v] of vars) v.assign(tf.tensor(from.get(name) ?? new Float32Array(), v.shape));
        };
        assign(model.variables, resumed.model);
        assign(ema.shadow, resumed.ema);
        assign(adam.m, resumed.adamM);
        assign(adam.v, resumed.adamV);
        adam.step = resumed.progress.adamStep;
      }
      return {
        async step(batch, step, lr) {
          const { size, channels } = spec.input;
          const net: Network = (x, t, y) =>
            model.forward({ x, t, y }, { training: true, dropoutSeed: o.seed * 1_000_003 + step });
          const { loss, grads } = accumulateGradients(model.variables, parts, (i) =>
            tf.tidy(() => {
              const lo = i * per;
              const hi = Math.min(o.batchSize, lo + per);
              const elems = size * size * channels;
              const shape: [number, number, number, number] = [hi - lo, size, size, channels];
              const x = tf.tensor4d(batch.images.subarray(lo * elems, hi * elems), shape);
              const noise = tf.tensor4d(batch.noise.subarray(lo * elems, hi * elems), shape);
              const y = batch.labels ? tf.tensor1d(batch.labels.subarray(lo, hi), "int32") : undefined;
              return lossOf(net, x, noise, batch.levels.slice(lo, hi), y);
            }),
          );
          if (!Number.isFinite(loss)) {
            tf.dispose(Object.values(grads));
            return { loss, gradNorm: Number.NaN };
          }
          const gradNorm = clipByGlobalNorm(grads, o.gradClip);
          adam.apply(grads, lr);
          tf.dispose(Object.values(grads));
          ema.update();
          return { loss, gradNorm };
        },
        adamStep: () => adam.step,
        state: () => ({
          model: variableArrays(model.variables),
          ema: variableArrays(ema.shadow),
          adamM: variableArrays(adam.m),
          adamV: variableArrays(adam.v),
        }),
        dispose() {
          adam.dispose();
          ema.dispose();
          model.dispose();
        },
      };
    },
    grid,
  );
}
