// TMSA in tfjs: windowed multi-head self-attention whose queries, keys and values depend on the
// time token [P §3.2 Eq 3-6]. Shapes in comments: N batch, H×W grid, C width, w window,
// T = w² tokens per window, B' = N·(H/w)·(W/w) windows, h heads, d = C/h.
import * as tf from "@tensorflow/tfjs";
import type { OpAttrs } from "../../compiler/ir/types.ts";
import { biasTableRows, relativePositionIndex } from "../../compiler/ops/attention.ts";
import { windowPartition, windowReverse } from "./windows.ts";

export type Params = (role: string) => tf.Tensor;

/** x·W + b over the last axis, with W as [in, out]. */
export function dense(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const inF = weight.shape[0] ?? 0;
  const outF = weight.shape[1] ?? 0;
  const y = tf.reshape(tf.matMul(tf.reshape(x, [-1, inF]), weight as tf.Tensor2D), [
    ...x.shape.slice(0, -1),
    outF,
  ]);
  return bias ? tf.add(y, bias) : y;
}

const indexCache = new Map<number, tf.Tensor1D>();

/** The relative-position index as a kept int32 tensor, one per window size. */
function positionIndex(window: number): tf.Tensor1D {
  let idx = indexCache.get(window);
  if (!idx || idx.isDisposed) {
    idx = tf.keep(tf.tensor1d(relativePositionIndex(window), "int32"));
    indexCache.set(window, idx);
  }
  return idx;
}

/** [rows, h] table → per-head bias [h, T, T] for one window. */
function gatherBias(table: tf.Tensor, window: number): tf.Tensor3D {
  const t = window * window;
  const heads = table.shape[1] ?? 0;
  const b = tf.reshape(tf.gather(table, positionIndex(window)), [t, t, heads]);
  return tf.transpose(b, [2, 0, 1]) as tf.Tensor3D;
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
  const optional = (role: string) => (a.qkvBias ? p(role) : undefined);

  // Eq 3-5: q_s = x_s·W_qs + x_t·W_qt (likewise k, v), fused as [OFF] does: one C→3C projection of
  // the spatial tokens plus one T→3C projection of the time token, broadcast over the grid.
  let qkv = dense(x, p("qkv.weight"), optional("qkv.bias")); // [N, H, W, 3C]
  if (a.mode === "tmsa") {
    if (!temb) throw new Error("TMSA needs the time token");
    const temporal = dense(temb, p("qkv_temb.weight"), optional("qkv_temb.bias")); // [N, 3C]
    qkv = tf.add(qkv, tf.reshape(temporal, [n, 1, 1, 3 * c]));
  }

  // Split q, k, v before the head transpose so every transpose stays at rank 4.
  const [q, k, v] = tf
    .split(windowPartition(qkv as tf.Tensor4D, w), 3, 2)
    .map((m) => tf.transpose(tf.reshape(m, [-1, tokens, heads, d]), [0, 2, 1, 3])) as [
    tf.Tensor4D,
    tf.Tensor4D,
    tf.Tensor4D,
  ]; // each [B', h, T, d]

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
