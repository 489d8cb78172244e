// IR op → tfjs. One entry per op kind; `satisfies` turns a missing lowering into a type error.
// Activations are channels-last as in the IR, so no layout conversion is needed here.
import * as tf from "@tensorflow/tfjs";
import type { NodeOf, OpKind } from "../../compiler/ir/types.ts";
import { dense, type Params, windowAttention } from "./window-attention.ts";

export interface LowerContext {
  training: boolean;
  /** Seed for dropout masks of this forward pass. */
  dropoutSeed: number;
}

type Lowering<K extends OpKind> = (
  node: NodeOf<K>,
  inputs: tf.Tensor[],
  p: Params,
  ctx: LowerContext,
) => tf.Tensor;

function first(inputs: tf.Tensor[]): tf.Tensor {
  const x = inputs[0];
  if (!x) throw new Error("missing input");
  return x;
}

const x4 = (inputs: tf.Tensor[]) => first(inputs) as tf.Tensor4D;

/** GroupNorm over channels-last [N, H, W, C]: statistics per sample and group of C/G channels. */
function groupNorm(
  x: tf.Tensor4D,
  groups: number,
  eps: number,
  weight: tf.Tensor,
  bias: tf.Tensor,
): tf.Tensor {
  const [n, h, w, c] = x.shape;
  const g = tf.reshape(x, [n, h * w, groups, c / groups]);
  const { mean, variance } = tf.moments(g, [1, 3], true);
  const normed = tf.reshape(tf.mul(tf.sub(g, mean), tf.rsqrt(tf.add(variance, eps))), [n, h, w, c]);
  return tf.add(tf.mul(normed, weight), bias);
}

// Up-sampling is written with reshapes, slices and concatenations rather than tf.image.resize*:
// in tfjs 4.22, ResizeBilinearGrad ignores halfPixelCenters (cpu and wasm) and the cpu
// ResizeNearestNeighborGrad mis-strides batches > 1, so their gradients are wrong.

export { subPixelConvTranspose, upsampleBilinear2x, upsampleNearest };

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

/**
 * ConvTranspose k4 s2 p1 as one 3×3 convolution producing the four output phases as channels,
 * then a pixel shuffle. The wasm backend runs transposed convolutions with stride 2 on a slow
 * native kernel (~2.3 GFLOP/s); a forward 3×3 conv runs on XNNPACK (~15), and its gradients
 * are the fast ones too. W [4, 4, in, out] → K [3, 3, in, (py, px, out)].
 */
function subPixelConvTranspose(x: tf.Tensor4D, weight: tf.Tensor4D): tf.Tensor4D {
  const [, , cin, cout] = weight.shape;
  if (!subPixelIndex || subPixelIndex.isDisposed) {
    const idx: number[] = [];
    for (let ty = 0; ty < 3; ty++)
      for (let tx = 0; tx < 3; tx++)
        for (let py = 0; py < 2; py++)
          for (let px = 0; px < 2; px++) {
            const ky = subPixelTap(py, ty);
            const kx = subPixelTap(px, tx);
            idx.push(ky < 0 || kx < 0 ? -1 : ky * 4 + kx); // -1: no tap (a zero row)
          }
    // A one-hot selection [36, 16] (the zero tap selects nothing): a matmul, where a gather
    // would run wasm's slow GatherV2 and need UnsortedSegmentSum for its gradient.
    const sel = new Float32Array(idx.length * 16);
    idx.forEach((k, i) => {
      if (k >= 0) sel[i * 16 + k] = 1;
    });
    subPixelIndex = tf.keep(tf.tensor2d(sel, [idx.length, 16]));
  }
  const taps = tf.matMul(subPixelIndex, tf.reshape(weight, [16, cin * cout]));
  const k = tf.reshape(taps, [3, 3, 4, cin, cout]);
  const kernel = tf.reshape(tf.transpose(k, [0, 1, 3, 2, 4]), [3, 3, cin, 4 * cout]) as tf.Tensor4D;
  const phases = tf.conv2d(x, kernel, 1, 1); // [N, H, W, (py, px, out)]
  const [n, h, w] = x.shape;
  const shuffled = tf.transpose(tf.reshape(phases, [n, h, w, 2, 2, cout]), [0, 1, 3, 2, 4, 5]);
  return tf.reshape(shuffled, [n, 2 * h, 2 * w, cout]);
}

/** Nearest-neighbour ×s: every pixel repeated s×s times (PyTorch "nearest", ONNX asymmetric/floor). */
function upsampleNearest(x: tf.Tensor4D, s: number): tf.Tensor {
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

function upsampleBilinear2x(x: tf.Tensor4D, scale: number): tf.Tensor {
  if (scale !== 2) throw new Error(`bilinear up-sampling supports scale 2, got ${scale}`);
  return bilinear2xAlong(bilinear2xAlong(x, 1), 2);
}

/**
 * GELU with the tanh approximation: ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³). Computed as
 * x·σ(2u), the same function (½(1 + tanh u) = σ(2u)), because wasm's Sigmoid is vectorised and
 * its Tanh is ~20× slower.
 */
function geluTanh(x: tf.Tensor): tf.Tensor {
  const twoU = tf.mul(2 * Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.mul(x, tf.mul(x, x)))));
  return tf.mul(x, tf.sigmoid(twoU));
}

/** Sinusoidal ([OFF] t_embedder) or Fourier (EDM) features of a [N] float input. */
function timestepFeatures(node: NodeOf<"timestep-embedding">, t: tf.Tensor, p: Params): tf.Tensor {
  const a = node.attrs;
  const half = a.dim / 2;
  let freqs: tf.Tensor;
  if (a.kind === "fourier") {
    freqs = tf.mul(p("freqs"), 2 * Math.PI);
  } else {
    const k = Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(a.maxPeriod) * i) / half));
    freqs = tf.tensor1d(k);
  }
  const args = tf.mul(tf.reshape(t, [-1, 1]), tf.reshape(freqs, [1, half])); // [N, dim/2]
  const parts = a.layout === "cos-sin" ? [tf.cos(args), tf.sin(args)] : [tf.sin(args), tf.cos(args)];
  return tf.concat(parts, 1);
}

export const LOWERINGS = {
  input: () => {
    throw new Error("inputs are bound by the executor");
  },
  conv2d: (n, ins, p) => {
    const a = n.attrs;
    const y = tf.conv2d(x4(ins), p("weight") as tf.Tensor4D, a.stride, a.padding);
    return a.bias ? tf.add(y, p("bias")) : y;
  },
  "conv-transpose2d": (n, ins, p) => {
    const a = n.attrs;
    const x = x4(ins);
    if (a.kernel === 4 && a.stride === 2 && a.padding === 1 && a.outputPadding === 0) {
      return tf.add(subPixelConvTranspose(x, p("weight") as tf.Tensor4D), p("bias"));
    }
    // IR weights are [kh, kw, in, out]; tfjs's transposed conv takes [kh, kw, out, in].
    const filter = tf.transpose(p("weight"), [0, 1, 3, 2]) as tf.Tensor4D;
    const [nb, h, w] = x.shape;
    const up = (s: number) => (s - 1) * a.stride - 2 * a.padding + a.kernel + a.outputPadding;
    const y = tf.conv2dTranspose(x, filter, [nb, up(h), up(w), a.outChannels], a.stride, a.padding);
    return tf.add(y, p("bias"));
  },
  "avg-pool": (n, ins) => tf.avgPool(x4(ins), n.attrs.size, n.attrs.size, "valid"),
  resize: (n, ins) =>
    n.attrs.mode === "nearest"
      ? upsampleNearest(x4(ins), n.attrs.scale)
      : upsampleBilinear2x(x4(ins), n.attrs.scale),
  "group-norm": (n, ins, p) => groupNorm(x4(ins), n.attrs.groups, n.attrs.eps, p("weight"), p("bias")),
  "layer-norm": (n, ins, p) => {
    const x = first(ins);
    const { mean, variance } = tf.moments(x, -1, true);
    const y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, n.attrs.eps)));
    return n.attrs.affine ? tf.add(tf.mul(y, p("weight")), p("bias")) : y;
  },
  linear: (n, ins, p) => dense(first(ins), p("weight"), n.attrs.bias ? p("bias") : undefined),
  "gelu-tanh": (_n, ins) => geluTanh(first(ins)),
  silu: (_n, ins) => {
    const x = first(ins);
    return tf.mul(x, tf.sigmoid(x));
  },
  add: (_n, ins) => ins.slice(1).reduce<tf.Tensor>((acc, t) => tf.add(acc, t), first(ins)),
  mul: (_n, ins) => ins.slice(1).reduce<tf.Tensor>((acc, t) => tf.mul(acc, t), first(ins)),
  modulate: (_n, ins) => {
    const [x, shift, scale] = ins;
    if (!x || !shift || !scale) throw new Error("modulate needs x, shift and scale");
    return tf.add(tf.mul(x, tf.add(1, scale)), shift);
  },
  dropout: (n, ins, _p, ctx) =>
    ctx.training && n.attrs.rate > 0
      ? tf.dropout(first(ins), n.attrs.rate, undefined, ctx.dropoutSeed + n.id)
      : first(ins),
  concat: (n, ins) => tf.concat(ins, n.attrs.axis),
  reshape: (n, ins) =>
    tf.reshape(
      first(ins),
      n.attrs.shape.map((d) => (d === "N" ? -1 : d)),
    ),
  slice: (n, ins) => {
    const x = first(ins);
    const axis = n.attrs.axis < 0 ? n.attrs.axis + x.rank : n.attrs.axis;
    const begin = x.shape.map((_, i) => (i === axis ? n.attrs.start : 0));
    const size = x.shape.map((d, i) => (i === axis ? n.attrs.size : d));
    return tf.slice(x, begin, size);
  },
  unpatchify: (n, ins) => {
    const x = x4(ins);
    const [nb, h, w] = x.shape;
    const { patch, channels } = n.attrs;
    // Each token's features are ordered (row-in-patch, column-in-patch, channel) [OFF].
    const grid = tf.reshape(x, [nb, h, w, patch, patch, channels]);
    return tf.reshape(tf.transpose(grid, [0, 1, 3, 2, 4, 5]), [nb, h * patch, w * patch, channels]);
  },
  "add-position": (n, ins, p) =>
    tf.add(first(ins), tf.reshape(p("table"), [n.attrs.grid, n.attrs.grid, n.attrs.width])),
  "timestep-embedding": (n, ins, p) => timestepFeatures(n, first(ins), p),
  "label-embedding": (_n, ins, p) => tf.gather(p("embedding_table.weight"), first(ins)),
  "window-attention": (n, ins, p) => windowAttention(n.attrs, x4(ins), ins[1], p),
} satisfies { [K in OpKind]: Lowering<K> };

export function lowerNode<K extends OpKind>(
  node: NodeOf<K>,
  inputs: tf.Tensor[],
  p: Params,
  ctx: LowerContext,
): tf.Tensor {
  return (LOWERINGS[node.op] as Lowering<K>)(node, inputs, p, ctx);
}
