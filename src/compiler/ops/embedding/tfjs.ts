// Time, label and position embeddings on tfjs.
import * as tf from "@tensorflow/tfjs";
import type { OpAttrs } from "../../ir/types.ts";
import { first, type Params, type TfjsLowering } from "../tfjs-lowering.ts";
import type { EmbeddingOp } from "./def.ts";

/** Sinusoidal ([OFF] t_embedder) or Fourier (EDM) features of a [N] float input. */
function timestepFeatures(a: OpAttrs["timestep-embedding"], t: tf.Tensor, p: Params): tf.Tensor {
  const half = a.dim / 2;
  let freqs: tf.Tensor;
  if (a.kind === "fourier") {
    freqs = tf.mul(p("freqs"), 2 * Math.PI);
  } else {
    const k = Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(a.maxPeriod) * i) / half));
    freqs = tf.tensor1d(k);
  }
  const args = tf.mul(tf.reshape(t, [-1, 1]), tf.reshape(freqs, [1, half])); // [N, dim/2]
  const parts = a.layout === "cos-sin" ? [tf.cos(args), tf.sin(args)] : [tf.sin(args), tf.cos(args)];
  return tf.concat(parts, 1);
}

export const EMBEDDING_TFJS = {
  "timestep-embedding": (a, ins, p) => timestepFeatures(a, first(ins), p),
  "label-embedding": (_a, ins, p) => tf.gather(p("embedding_table.weight"), first(ins)),
  "add-position": (a, ins, p) => tf.add(first(ins), tf.reshape(p("table"), [a.grid, a.grid, a.width])),
} satisfies { [K in EmbeddingOp]: TfjsLowering<K> };
