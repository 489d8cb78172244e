// Non-overlapping window partition and its inverse for channels-last grids [P §3.2 "Local
// Attention"]: no shift, windows in row-major order, tokens row-major inside each window.
// Transposes stay at rank 6 on one axis pair (rank-5 transposes are ~25× slower on wasm).
import * as tf from "@tensorflow/tfjs";

/** [N, H, W, C] → [N·(H/w)·(W/w), w·w, C]. */
export function windowPartition(x: tf.Tensor4D, w: number): tf.Tensor3D {
  const [n, h, wd, c] = x.shape;
  const nh = h / w;
  const nw = wd / w;
  if (nh === 1 && nw === 1) return tf.reshape(x, [n, w * w, c]);
  const grid = tf.reshape(x, [n, nh, w, nw, w, c]);
  return tf.reshape(tf.transpose(grid, [0, 1, 3, 2, 4, 5]), [n * nh * nw, w * w, c]);
}

/** [N·(H/w)·(W/w), w·w, C] → [N, H, W, C]. */
export function windowReverse(windows: tf.Tensor3D, w: number, h: number, wd: number): tf.Tensor4D {
  const c = windows.shape[2];
  const nh = h / w;
  const nw = wd / w;
  const n = windows.shape[0] / (nh * nw);
  if (nh === 1 && nw === 1) return tf.reshape(windows, [n, h, wd, c]);
  const grid = tf.reshape(windows, [n, nh, nw, w, w, c]);
  return tf.reshape(tf.transpose(grid, [0, 1, 3, 2, 4, 5]), [n, h, wd, c]);
}
