// Helpers for kernels written with tf ops: kernel inputs arrive as TensorInfo, attrs untyped.

import type { NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs";

/** The tensor behind a kernel input (ops pass Tensors; a bare TensorInfo gets a wrapper). */
export function asTensor(info: TensorInfo): tf.Tensor {
  return info instanceof tf.Tensor ? info : tf.engine().makeTensorFromTensorInfo(info);
}

/**
 * Kernel attributes typed by tfjs-core's own `XAttrs` interfaces. The engine passes them
 * untyped; this is the one place that trusts the op that invoked the kernel, as tfjs does.
 */
export function kernelAttrs<T>(attrs: NamedAttrMap | undefined): T {
  return (attrs ?? {}) as T;
}
