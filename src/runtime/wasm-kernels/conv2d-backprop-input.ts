// The wasm Conv2DBackpropInput runs at ~2.3 GFLOP/s. For stride 1 (and no dilation) the input
// gradient is a forward convolution of dy with the spatially flipped, in/out-swapped kernel,
// which runs on XNNPACK at ~15 GFLOP/s. Other strides keep the native kernel.

import type { Conv2DBackpropInputAttrs, KernelConfig, KernelFunc } from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs";
import { asTensor, kernelAttrs } from "./tensor-info.ts";

export function fastConv2dBackpropInputConfig(original: KernelConfig): KernelConfig {
  const kernelFunc: KernelFunc = ({ inputs, attrs, backend }) => {
    const { dy, filter } = inputs;
    const a = kernelAttrs<Conv2DBackpropInputAttrs>(attrs);
    if (!dy || !filter) throw new Error("Conv2DBackpropInput needs dy and filter");
    const [sh, sw] = typeof a.strides === "number" ? [a.strides, a.strides] : a.strides;
    if (sh !== 1 || sw !== 1 || a.dataFormat !== "NHWC")
      return original.kernelFunc({ inputs, attrs, backend });
    const [kh, kw] = filter.shape as [number, number, number, number];
    const info = tf.backend_util.computeConv2DInfo(
      a.inputShape,
      filter.shape as [number, number, number, number],
      1,
      1,
      a.pad,
      a.dimRoundingMode,
      false,
      "channelsLast",
    );
    const { top, bottom, left, right } = info.padInfo;
    const pads = [kh - 1 - top, kh - 1 - bottom, kw - 1 - left, kw - 1 - right];
    if (pads.some((p) => p < 0)) return original.kernelFunc({ inputs, attrs, backend });
    const [pt, pb, pl, pr] = pads as [number, number, number, number];
    return tf.tidy(() => {
      const flipped = tf.transpose(tf.reverse(asTensor(filter), [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
      const explicit: [[number, number], [number, number], [number, number], [number, number]] = [
        [0, 0],
        [pt, pb],
        [pl, pr],
        [0, 0],
      ];
      return tf.conv2d(asTensor(dy) as tf.Tensor4D, flipped, 1, explicit);
    });
  };
  return { ...original, kernelFunc };
}
