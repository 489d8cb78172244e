// Pooling and up-sampling on tfjs. Up-sampling is written with reshapes, slices and
// concatenations rather than tf.image.resize*: in tfjs 4.22, ResizeBilinearGrad ignores
// halfPixelCenters (cpu and wasm) and the cpu ResizeNearestNeighborGrad mis-strides batches > 1,
// so their gradients are wrong.
import * as tf from "@tensorflow/tfjs";
import { type TfjsLowering, x4 } from "../tfjs-lowering.ts";
import type { ResampleOp } from "./def.ts";

/** Nearest-neighbour ×s: every pixel repeated s×s times (PyTorch "nearest", ONNX asymmetric/floor). */
export function upsampleNearest(x: tf.Tensor4D, s: number): tf.Tensor {
  const [n, h, w, c] = x.shape;
  const spread = tf.mul(tf.reshape(x, [n, h, 1, w, 1, c]), tf.ones([1, 1, s, 1, s, 1]));
  return tf.reshape(spread, [n, h * s, w * s, c]);
}

/** Bilinear ×2 along one axis with half-pixel centres: out[2i] = ¾x[i] + ¼x[i−1], out[2i+1] = ¾x[i] + ¼x[i+1], edges clamped. */
function bilinear2xAlong(x: tf.Tensor4D, axis: 1 | 2): tf.Tensor4D {
  const len = x.shape[axis];
  const take = (start: number, size: number) => {
    const begin = [0, 0, 0, 0];
    const sizes = [...x.shape];
    begin[axis] = start;
    sizes[axis] = size;
    return tf.slice(x, begin, sizes);
  };
  const prev = len > 1 ? tf.concat([take(0, 1), take(0, len - 1)], axis) : x;
  const next = len > 1 ? tf.concat([take(1, len - 1), take(len - 1, 1)], axis) : x;
  const even = tf.add(tf.mul(x, 0.75), tf.mul(prev, 0.25));
  const odd = tf.add(tf.mul(x, 0.75), tf.mul(next, 0.25));
  const [n, h, w, c] = x.shape;
  const shape: [number, number, number, number] = axis === 1 ? [n, 2 * h, w, c] : [n, h, 2 * w, c];
  return tf.reshape(tf.stack([even, odd], axis + 1), shape);
}

export function upsampleBilinear2x(x: tf.Tensor4D, scale: number): tf.Tensor {
  if (scale !== 2) throw new Error(`bilinear up-sampling supports scale 2, got ${scale}`);
  return bilinear2xAlong(bilinear2xAlong(x, 1), 2);
}

export const RESAMPLE_TFJS = {
  "avg-pool": (a, ins) => tf.avgPool(x4(ins), a.size, a.size, "valid"),
  resize: (a, ins) =>
    a.mode === "nearest" ? upsampleNearest(x4(ins), a.scale) : upsampleBilinear2x(x4(ins), a.scale),
} satisfies { [K in ResampleOp]: TfjsLowering<K> };
