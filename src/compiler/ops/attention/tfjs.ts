// TMSA on tfjs: windowed multi-head self-attention whose queries, keys and values depend on the
// time token [P §3.2 Eq 3-6]. Shapes in comments: N batch, H×W grid, C width, w window,
// T = w² tokens per window, B' = N·(H/w)·(W/w) windows, h heads, d = C/h.
import * as tf from "@tensorflow/tfjs";
import type { OpAttrs } from "../../ir/types.ts";
import { dense } from "../linear/tfjs.ts";
import { type Params, type TfjsLowering, x4 } from "../tfjs-lowering.ts";
import { type AttentionOp, biasTableRows, relativePositionIndex } from "./def.ts";

// Non-overlapping window partition and its inverse for channels-last grids [P §3.2 "Local
// Attention"]: no shift, windows in row-major order, tokens row-major inside each window.
// Transposes stay at rank 6 on one axis pair (rank-5 transposes are ~25× slower on wasm).

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

const indexCache = new Map<number, tf.Tensor1D>();

/** Drops the cached index constants (tests rebuild them on another backend). */
export function resetAttentionConstants(): void {
  for (const t of [...indexCache.values(), ...selectionCache.values()]) t.dispose();
  indexCache.clear();
  selectionCache.clear();
}

/** The relative-position index as a kept int32 tensor, one per window size. */
function positionIndex(window: number): tf.Tensor1D {
  let idx = indexCache.get(window);
  if (!idx || idx.isDisposed) {
    idx = tf.keep(tf.tensor1d(relativePositionIndex(window), "int32"));
    indexCache.set(window, idx);
  }
  return idx;
}

/** Largest one-hot selection matrix used instead of a gather (T²·(2w−1)² floats; w ≤ 8). */
const ONE_HOT_LIMIT = 4_000_000;
const selectionCache = new Map<number, tf.Tensor2D>();

/** The relative-position index as a one-hot [T², (2w−1)²] matrix, kept, one per window size. */
function positionSelection(window: number): tf.Tensor2D {
  let m = selectionCache.get(window);
  if (!m || m.isDisposed) {
    // Built in JS: wasm's OneHot kernel ignores the float32 dtype and writes integer bits.
    const idx = relativePositionIndex(window);
    const rows = biasTableRows(window);
    const values = new Float32Array(idx.length * rows);
    idx.forEach((r, i) => {
      values[i * rows + r] = 1;
    });
    m = tf.keep(tf.tensor2d(values, [idx.length, rows]));
    selectionCache.set(window, m);
  }
  return m;
}

/**
 * [rows, h] table → per-head bias [h, T, T] for one window. Small windows select rows with a
 * one-hot matmul: on wasm, GatherV2 takes ~5 ms even for tiny tables and its gradient needs the
 * registered UnsortedSegmentSum, while the matmul and its gradient run on XNNPACK.
 */
function gatherBias(table: tf.Tensor, window: number): tf.Tensor3D {
  const t = window * window;
  const heads = table.shape[1] ?? 0;
  const rows = biasTableRows(window);
  const picked =
    rows >= 2 && t * t * rows <= ONE_HOT_LIMIT
      ? tf.matMul(positionSelection(window), table as tf.Tensor2D)
      : tf.gather(table, positionIndex(window));
  return tf.transpose(tf.reshape(picked, [t, t, heads]), [2, 0, 1]) as tf.Tensor3D;
}

export function windowAttention(
  a: OpAttrs["window-attention"],
  x: tf.Tensor4D,
  temb: tf.Tensor | undefined,
  p: Params,
): tf.Tensor4D {
  const [n, h, wd] = x.shape;
  const c = a.width;
  const heads = a.heads;
  const d = c / heads;
  const w = a.window;
  const tokens = w * w;

  // Eq 3-5: q_s = x_s·W_qs + x_t·W_qt (likewise k, v). The fused [OFF] weights (C→3C spatial,
  // T→3C temporal, outputs ordered q, k, v) are sliced per projection: slicing the small weights
  // is cheaper than splitting the large activations (SplitV is slow on wasm).
  const third = (role: string, j: number) => {
    const w = p(role);
    return w.rank === 2 ? tf.slice(w, [0, j * c], [-1, c]) : tf.slice(w, [j * c], [c]);
  };
  const project = (j: number) => {
    let y = dense(x, third("qkv.weight", j), a.qkvBias ? third("qkv.bias", j) : undefined); // [N, H, W, C]
    if (a.mode === "tmsa") {
      if (!temb) throw new Error("TMSA needs the time token");
      const temporal = dense(
        temb,
        third("qkv_temb.weight", j),
        a.qkvBias ? third("qkv_temb.bias", j) : undefined,
      ); // [N, C]
      y = tf.add(y, tf.reshape(temporal, [n, 1, 1, c]));
    }
    // Windows, then heads: [B', T, C] → [B', h, T, d], every transpose at rank ≤ 6 on one axis pair.
    return tf.transpose(
      tf.reshape(windowPartition(y as tf.Tensor4D, w), [-1, tokens, heads, d]),
      [0, 2, 1, 3],
    ) as tf.Tensor4D;
  };
  const [q, k, v] = [project(0), project(1), project(2)];

  // Eq 6: Attn = Softmax(q·kᵀ/√d + B)·v, with q scaled first as [OFF] does.
  let scores: tf.Tensor = tf.matMul(tf.mul(q, d ** -0.5), k, false, true); // [B', h, T, T]
  if (a.relativePositionBias) scores = tf.add(scores, gatherBias(p("relative_position_bias_table"), w));
  if (a.mode === "time-in-bias") {
    // Table 6 F: the time token only shifts the bias table, per sample.
    if (!temb) throw new Error("time-in-bias needs the time token");
    const rows = biasTableRows(w);
    const perSample = tf.reshape(dense(temb, p("temb_bias.weight"), p("temb_bias.bias")), [n, rows, heads]);
    const bias = tf.reshape(tf.gather(perSample, positionIndex(w), 1), [n, tokens, tokens, heads]);
    const windowsPerSample = scores.shape[0] / n;
    const shaped = tf.reshape(scores, [n, windowsPerSample, heads, tokens, tokens]);
    const timeBias = tf.reshape(tf.transpose(bias, [0, 3, 1, 2]), [n, 1, heads, tokens, tokens]);
    scores = tf.reshape(tf.add(shaped, timeBias), [-1, heads, tokens, tokens]);
  }
  const attn = tf.softmax(scores); // over the last axis
  const out = tf.matMul(attn as tf.Tensor4D, v); // [B', h, T, d]
  const merged = tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [-1, tokens, c]) as tf.Tensor3D; // [B', T, C]
  const grid = windowReverse(merged, w, h, wd); // [N, H, W, C]
  return dense(grid, p("proj.weight"), p("proj.bias")) as tf.Tensor4D;
}

export const ATTENTION_TFJS = {
  "window-attention": (a, ins, p) => windowAttention(a, x4(ins), ins[1], p),
} satisfies { [K in AttentionOp]: TfjsLowering<K> };
