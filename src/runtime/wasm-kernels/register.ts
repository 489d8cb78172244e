// Fills the wasm backend's training gaps (tfjs 4.22) and routes two slow kernels to fast paths.
// Runs once, after the wasm backend is set; each kernel is tested against the cpu backend.
import * as tf from "@tensorflow/tfjs";
import { conv2dBackpropFilterConfig } from "./conv2d-backprop-filter.ts";
import { fastConv2dBackpropInputConfig } from "./conv2d-backprop-input.ts";
import { fastBatchMatMulConfig } from "./fast-matmul.ts";
import { unsortedSegmentSumConfig } from "./unsorted-segment-sum.ts";

let registered = false;

function replace(name: string, wrap: (original: tf.KernelConfig) => tf.KernelConfig): void {
  const original = tf.getKernel(name, "wasm");
  if (!original) return;
  tf.unregisterKernel(name, "wasm");
  tf.registerKernel(wrap(original));
}

export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  for (const config of [conv2dBackpropFilterConfig, unsortedSegmentSumConfig]) {
    if (!tf.getKernel(config.kernelName, "wasm")) tf.registerKernel(config);
  }
  replace("BatchMatMul", fastBatchMatMulConfig);
  replace("Conv2DBackpropInput", fastConv2dBackpropInputConfig);
}
