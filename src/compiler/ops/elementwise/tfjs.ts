// Activations, dropout and broadcasting arithmetic on tfjs.
import * as tf from "@tensorflow/tfjs";
import { first, type TfjsLowering } from "../tfjs-lowering.ts";
import type { ElementwiseOp } from "./def.ts";

/**
 * GELU with the tanh approximation: ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³). Computed as
 * x·σ(2u), the same function (½(1 + tanh u) = σ(2u)), because wasm's Sigmoid is vectorised and
 * its Tanh is ~20× slower.
 */
function geluTanh(x: tf.Tensor): tf.Tensor {
  const twoU = tf.mul(2 * Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.mul(x, tf.mul(x, x)))));
  return tf.mul(x, tf.sigmoid(twoU));
}

export const ELEMENTWISE_TFJS = {
  "gelu-tanh": (_a, ins) => geluTanh(first(ins)),
  silu: (_a, ins) => {
    const x = first(ins);
    return tf.mul(x, tf.sigmoid(x));
  },
  add: (_a, ins) => ins.slice(1).reduce<tf.Tensor>((acc, t) => tf.add(acc, t), first(ins)),
  mul: (_a, ins) => ins.slice(1).reduce<tf.Tensor>((acc, t) => tf.mul(acc, t), first(ins)),
  modulate: (_a, ins) => {
    const [x, shift, scale] = ins;
    if (!x || !shift || !scale) throw new Error("modulate needs x, shift and scale");
    return tf.add(tf.mul(x, tf.add(1, scale)), shift);
  },
  dropout: (a, ins, _p, _out, run) =>
    run.training && a.rate > 0 ? tf.dropout(first(ins), a.rate, undefined, run.seed) : first(ins),
} satisfies { [K in ElementwiseOp]: TfjsLowering<K> };
