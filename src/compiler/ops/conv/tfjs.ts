// Convolutions on tfjs. IR kernels are [kh, kw, in, out], as tf.conv2d takes them.
import * as tf from "@tensorflow/tfjs";
import { dimsOf, type TfjsLowering, x4 } from "../tfjs-lowering.ts";
import type { ConvOp } from "./def.ts";

/**
 * Which kernel tap of a k4 s2 p1 transposed conv feeds output phase `phase` (0 even, 1 odd) from
 * input offset `tap − 1`: out[2m] = in[m]·W[1] + in[m−1]·W[3];  out[2m+1] = in[m+1]·W[0] + in[m]·W[2].
 */
const SUBPIXEL_TAP: readonly (readonly number[])[] = [
  [3, 1, -1],
  [-1, 2, 0],
];
const subPixelTap = (phase: number, tap: number) => SUBPIXEL_TAP[phase]?.[tap] ?? -1;

let subPixelIndex: tf.Tensor2D | undefined;

/** Drops the cached selection matrix (tests rebuild it on another backend). */
export function resetSubPixelConstants(): void {
  subPixelIndex?.dispose();
  subPixelIndex = undefined;
}

/** The one-hot [36, 16] selection of kernel taps per (3×3 tap, phase), kept. */
function subPixelSelection(): tf.Tensor2D {
  if (subPixelIndex && !subPixelIndex.isDisposed) return subPixelIndex;
  const idx: number[] = [];
  for (let ty = 0; ty < 3; ty++)
    for (let tx = 0; tx < 3; tx++)
      for (let py = 0; py < 2; py++)
        for (let px = 0; px < 2; px++) {
          const ky = subPixelTap(py, ty);
          const kx = subPixelTap(px, tx);
          idx.push(ky < 0 || kx < 0 ? -1 : ky * 4 + kx); // -1: no tap (a zero row)
        }
  // A one-hot selection (the zero tap selects nothing): a matmul, where a gather would run
  // wasm's slow GatherV2 and need UnsortedSegmentSum for its gradient.
  const sel = new Float32Array(idx.length * 16);
  idx.forEach((k, i) => {
    if (k >= 0) sel[i * 16 + k] = 1;
  });
  subPixelIndex = tf.keep(tf.tensor2d(sel, [idx.length, 16]));
  return subPixelIndex;
}

/**
 * ConvTranspose k4 s2 p1 as one 3×3 convolution producing the four output phases as channels,
 * then a pixel shuffle. The wasm backend runs transposed convolutions with stride 2 on a slow
 * native kernel (~2.3 GFLOP/s); a forward 3×3 conv runs on XNNPACK (~15), and its gradients
 * are the fast ones too. W [4, 4, in, out] → K [3, 3, in, (py, px, out)].
 */
export function subPixelConvTranspose(x: tf.Tensor4D, weight: tf.Tensor4D): tf.Tensor4D {
  const [, , cin, cout] = weight.shape;
  const taps = tf.matMul(subPixelSelection(), tf.reshape(weight, [16, cin * cout]));
  const k = tf.reshape(taps, [3, 3, 4, cin, cout]);
  const kernel = tf.reshape(tf.transpose(k, [0, 1, 3, 2, 4]), [3, 3, cin, 4 * cout]) as tf.Tensor4D;
  const phases = tf.conv2d(x, kernel, 1, 1); // [N, H, W, (py, px, out)]
  const [n, h, w] = x.shape;
  const shuffled = tf.transpose(tf.reshape(phases, [n, h, w, 2, 2, cout]), [0, 1, 3, 2, 4, 5]);
  return tf.reshape(shuffled, [n, 2 * h, 2 * w, cout]);
}

export const CONV_TFJS = {
  conv2d: (a, ins, p) => {
    const y = tf.conv2d(x4(ins), p("weight") as tf.Tensor4D, a.stride, a.padding);
    return a.bias ? tf.add(y, p("bias")) : y;
  },
  "conv-transpose2d": (a, ins, p, out) => {
    const x = x4(ins);
    if (a.kernel === 4 && a.stride === 2 && a.padding === 1 && a.outputPadding === 0) {
      return tf.add(subPixelConvTranspose(x, p("weight") as tf.Tensor4D), p("bias"));
    }
    // IR weights are [kh, kw, in, out]; tfjs's transposed conv takes [kh, kw, out, in].
    const filter = tf.transpose(p("weight"), [0, 1, 3, 2]) as tf.Tensor4D;
    const dims = dimsOf(out, x.shape[0]) as [number, number, number, number];
    return tf.add(tf.conv2dTranspose(x, filter, dims, a.stride, a.padding), p("bias"));
  },
} satisfies { [K in ConvOp]: TfjsLowering<K> };
