// Conv2DBackpropFilter is not registered for wasm (tfjs 4.22), so no convolution can train there.
// The weight gradient as one matmul per kernel tap ("shift9" for 3×3): for tap (i, j),
//   dW[i, j] = x_pad[:, i::s, j::s, :]ᵀ · dy        ([Ci, B·oh·ow] · [B·oh·ow, Co])
// Measured at ~7 GFLOP/s on wasm; an im2col variant (one big matmul) was slower.

import type { Conv2DBackpropFilterAttrs, KernelConfig, KernelFunc } from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs";
import { asTensor, kernelAttrs } from "./tensor-info.ts";

type Attrs = Pick<
  Conv2DBackpropFilterAttrs,
  "strides" | "pad" | "dataFormat" | "dimRoundingMode" | "filterShape"
>;

export function conv2dWeightGradient(x: tf.Tensor4D, dy: tf.Tensor4D, attrs: Attrs): tf.Tensor4D {
  if (attrs.dataFormat !== "NHWC") throw new Error("Conv2DBackpropFilter (wasm): only NHWC is supported");
  const [kh, kw, ci, co] = attrs.filterShape;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape,
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    "channelsLast",
  );
  const { top, bottom, left, right } = info.padInfo;
  return tf.tidy(() => {
    const xp = tf.pad(x, [
      [0, 0],
      [top, bottom],
      [left, right],
      [0, 0],
    ]);
    const rows = x.shape[0] * info.outHeight * info.outWidth;
    const dyMat = tf.reshape(dy, [rows, co]);
    const taps: tf.Tensor[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const end = [
          x.shape[0],
          i + (info.outHeight - 1) * info.strideHeight + 1,
          j + (info.outWidth - 1) * info.strideWidth + 1,
          ci,
        ];
        const tap = tf.stridedSlice(xp, [0, i, j, 0], end, [1, info.strideHeight, info.strideWidth, 1]);
        // An explicit transpose keeps the matmul on XNNPACK's fast untransposed path.
        taps.push(tf.matMul(tf.transpose(tf.reshape(tap, [rows, ci])), dyMat));
      }
    }
    return tf.reshape(tf.stack(taps), [kh, kw, ci, co]);
  });
}

const kernelFunc: KernelFunc = ({ inputs, attrs }) => {
  const { x, dy } = inputs;
  if (!x || !dy) throw new Error("Conv2DBackpropFilter needs x and dy");
  return conv2dWeightGradient(
    asTensor(x) as tf.Tensor4D,
    asTensor(dy) as tf.Tensor4D,
    kernelAttrs<Attrs>(attrs),
  );
};

export const conv2dBackpropFilterConfig: KernelConfig = {
  kernelName: "Conv2DBackpropFilter",
  backendName: "wasm",
  kernelFunc,
};
