// The dense layer on tfjs.
import * as tf from "@tensorflow/tfjs";
import { first, type TfjsLowering } from "../tfjs-lowering.ts";
import type { LinearOp } from "./def.ts";

/** x·W + b over the last axis, with W as [in, out]. */
export function dense(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const inF = weight.shape[0] ?? 0;
  const outF = weight.shape[1] ?? 0;
  const y = tf.reshape(tf.matMul(tf.reshape(x, [-1, inF]), weight as tf.Tensor2D), [
    ...x.shape.slice(0, -1),
    outF,
  ]);
  return bias ? tf.add(y, bias) : y;
}

export const LINEAR_TFJS = {
  linear: (a, ins, p) => dense(first(ins), p("weight"), a.bias ? p("bias") : undefined),
} satisfies { [K in LinearOp]: TfjsLowering<K> };
