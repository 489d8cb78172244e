// GroupNorm and LayerNorm on tfjs (channels-last).
import * as tf from "@tensorflow/tfjs";
import { first, type TfjsLowering, x4 } from "../tfjs-lowering.ts";
import type { NormOp } from "./def.ts";

/** GroupNorm over channels-last [N, H, W, C]: statistics per sample and group of C/G channels. */
function groupNorm(
  x: tf.Tensor4D,
  groups: number,
  eps: number,
  weight: tf.Tensor,
  bias: tf.Tensor,
): tf.Tensor {
  const [n, h, w, c] = x.shape;
  const g = tf.reshape(x, [n, h * w, groups, c / groups]);
  const { mean, variance } = tf.moments(g, [1, 3], true);
  const normed = tf.reshape(tf.mul(tf.sub(g, mean), tf.rsqrt(tf.add(variance, eps))), [n, h, w, c]);
  return tf.add(tf.mul(normed, weight), bias);
}

export const NORM_TFJS = {
  "group-norm": (a, ins, p) => groupNorm(x4(ins), a.groups, a.eps, p("weight"), p("bias")),
  "layer-norm": (a, ins, p) => {
    const x = first(ins);
    const { mean, variance } = tf.moments(x, -1, true);
    const y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, a.eps)));
    return a.affine ? tf.add(tf.mul(y, p("weight")), p("bias")) : y;
  },
} satisfies { [K in NormOp]: TfjsLowering<K> };
