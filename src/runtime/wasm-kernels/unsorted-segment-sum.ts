// UnsortedSegmentSum is not registered for wasm, so the gradient of tf.gather (label tables,
// the relative-position bias table) fails there. A direct accumulation over the rows: O(rows·width),
// with no one-hot matrix (that would be 65536 × 961 floats for a 16×16 global window).

import type { KernelConfig, KernelFunc, UnsortedSegmentSumAttrs } from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs";
import { asTensor, kernelAttrs } from "./tensor-info.ts";

export function unsortedSegmentSum(x: tf.Tensor, ids: tf.Tensor, numSegments: number): tf.Tensor {
  const rows = ids.size;
  const width = rows === 0 ? 0 : x.size / rows;
  const values = x.dataSync();
  const segment = ids.dataSync();
  const out = new Float32Array(numSegments * width);
  for (let r = 0; r < rows; r++) {
    const s = segment[r] ?? -1;
    if (s < 0 || s >= numSegments) continue; // tf semantics: out-of-range ids are dropped
    const src = r * width;
    const dst = s * width;
    for (let k = 0; k < width; k++) out[dst + k] = (out[dst + k] ?? 0) + (values[src + k] ?? 0);
  }
  return tf.tensor(out, [numSegments, ...x.shape.slice(ids.rank)], "float32");
}

const kernelFunc: KernelFunc = ({ inputs, attrs }) => {
  const { x, segmentIds } = inputs;
  if (!x || !segmentIds) throw new Error("UnsortedSegmentSum needs x and segmentIds");
  return unsortedSegmentSum(
    asTensor(x),
    asTensor(segmentIds),
    kernelAttrs<UnsortedSegmentSumAttrs>(attrs).numSegments,
  );
};

export const unsortedSegmentSumConfig: KernelConfig = {
  kernelName: "UnsortedSegmentSum",
  backendName: "wasm",
  kernelFunc,
};
