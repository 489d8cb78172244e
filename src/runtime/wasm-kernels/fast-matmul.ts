// The wasm BatchMatMul reaches XNNPACK (~15 GFLOP/s) only when it is unbatched and untransposed;
// a transposed operand falls to a naive loop (~1.2 GFLOP/s), and every dense-layer backward is
// transposed. This wrapper transposes explicitly first. Batched calls are left as they are:
// looping 2-D matmuls over the batch measured 20× worse than the naive batched kernel.

import type { BatchMatMulAttrs, KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs";
import { asTensor, kernelAttrs } from "./tensor-info.ts";

export function fastBatchMatMulConfig(original: KernelConfig): KernelConfig {
  const kernelFunc: KernelFunc = ({ inputs, attrs, backend }) => {
    const { a, b } = inputs;
    const { transposeA, transposeB } = kernelAttrs<BatchMatMulAttrs>(attrs);
    if (!a || !b) throw new Error("BatchMatMul needs a and b");
    const batch =
      a.shape.slice(0, -2).reduce((n, d) => n * d, 1) * b.shape.slice(0, -2).reduce((n, d) => n * d, 1);
    if (batch !== 1 || (!transposeA && !transposeB)) return original.kernelFunc({ inputs, attrs, backend });
    const perm = (t: TensorInfo) =>
      [...t.shape.keys()].map((i, _, all) => (i < all.length - 2 ? i : i === all.length - 2 ? i + 1 : i - 1));
    const temps: tf.Tensor[] = [];
    const plain = (t: TensorInfo, transposed: boolean): TensorInfo => {
      if (!transposed) return t;
      const out = tf.transpose(asTensor(t), perm(t));
      temps.push(out);
      return out;
    };
    const out = original.kernelFunc({
      inputs: { a: plain(a, transposeA), b: plain(b, transposeB) },
      attrs: { ...attrs, transposeA: false, transposeB: false },
      backend,
    });
    for (const t of temps) t.dispose();
    return out;
  };
  return { ...original, kernelFunc };
}
