// The formulas' arithmetic (src/compiler/formulas/scalar-ops.ts) on tfjs tensors: one tfjs op per
// operation, the kernels the tfjs engines always used (a³ is tf.pow), so their float32 results
// are what they were. Numbers pass straight to tfjs, which makes them float32 scalars. Call
// inside tf.tidy: intermediate tensors are not disposed here.
import * as tf from "@tensorflow/tfjs";
import type { Operand, ScalarOps } from "../compiler/formulas/scalar-ops.ts";

const t = (a: Operand<tf.Tensor>): tf.Tensor => (typeof a === "number" ? tf.scalar(a) : a);

export const tfjsOps: ScalarOps<tf.Tensor> = {
  constant: (v) => tf.scalar(v),
  add: (a, b) => tf.add(a, b),
  sub: (a, b) => tf.sub(a, b),
  mul: (a, b) => tf.mul(a, b),
  div: (a, b) => tf.div(a, b),
  pow: (a, b) => tf.pow(a, b),
  max: (a, b) => tf.maximum(a, b),
  neg: (a) => tf.neg(a),
  sqrt: (a) => tf.sqrt(a),
  exp: (a) => tf.exp(a),
  log: (a) => tf.log(a),
  cos: (a) => tf.cos(a),
  tanh: (a) => tf.tanh(a),
  square: (a) => tf.square(a),
  cube: (a) => tf.pow(a, 3),
  greater: (a, b) => tf.greater(a, b),
  less: (a, b) => tf.less(a, b),
  where: (c, a, b) => tf.where(c, t(a), t(b)),
};
