// Regression: constants cached by the lowerings (one-hot selections) must be right when they are
// first built on wasm. wasm's OneHot kernel ignores the float32 dtype, which once zeroed the
// relative-position bias and the sub-pixel transposed convolution on wasm only; the parity tests
// missed it because they built the caches on cpu first. Here wasm runs first.
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import type { OpAttrs } from "../src/compiler/ir/types.ts";
import { resetAttentionConstants, windowAttention } from "../src/compiler/ops/attention/tfjs.ts";
import { resetSubPixelConstants, subPixelConvTranspose } from "../src/compiler/ops/conv/tfjs.ts";
import { selectBackend } from "../src/runtime/backend.ts";

const attrs: OpAttrs["window-attention"] = {
  width: 8,
  heads: 2,
  window: 4,
  mode: "tmsa",
  timeWidth: 6,
  relativePositionBias: true,
  qkvBias: true,
};

function params(): Record<string, Float32Array> {
  const rnd = (n: number, seed: number) =>
    tf.randomNormal([n], 0, 0.5, "float32", seed).dataSync() as Float32Array;
  return {
    "qkv.weight": rnd(8 * 24, 1),
    "qkv.bias": rnd(24, 2),
    "qkv_temb.weight": rnd(6 * 24, 3),
    "qkv_temb.bias": rnd(24, 4),
    relative_position_bias_table: rnd(49 * 2, 5),
    "proj.weight": rnd(64, 6),
    "proj.bias": rnd(8, 7),
  };
}

const shapes: Record<string, number[]> = {
  "qkv.weight": [8, 24],
  "qkv.bias": [24],
  "qkv_temb.weight": [6, 24],
  "qkv_temb.bias": [24],
  relative_position_bias_table: [49, 2],
  "proj.weight": [8, 8],
  "proj.bias": [8],
};

async function run(
  backend: "wasm" | "cpu",
  p: Record<string, Float32Array>,
  x: Float32Array,
  t: Float32Array,
  w: Float32Array,
) {
  await selectBackend(backend);
  // Each backend builds its own constants, so a wrong wasm-built one cannot hide behind cpu.
  resetAttentionConstants();
  resetSubPixelConstants();
  return tf.tidy(() => {
    const get = (role: string) => tf.tensor(p[role] ?? new Float32Array(), shapes[role]);
    const attn = windowAttention(attrs, tf.tensor4d(x, [2, 8, 8, 8]), tf.tensor2d(t, [2, 6]), get);
    const up = subPixelConvTranspose(tf.tensor4d(x, [2, 8, 8, 8]), tf.tensor4d(w, [4, 4, 8, 3]));
    return [attn.dataSync().slice(), up.dataSync().slice()];
  });
}

describe("lowering constants built on wasm", () => {
  it("give the same attention (with its bias table) and transposed convolution as cpu", async () => {
    const p = params();
    const x = tf.randomNormal([2 * 8 * 8 * 8], 0, 1, "float32", 8).dataSync() as Float32Array;
    const t = tf.randomNormal([12], 0, 1, "float32", 9).dataSync() as Float32Array;
    const w = tf.randomNormal([4 * 4 * 8 * 3], 0, 0.3, "float32", 10).dataSync() as Float32Array;
    const onWasm = await run("wasm", p, x, t, w); // first use: caches are built on wasm
    const onCpu = await run("cpu", p, x, t, w);
    for (let k = 0; k < 2; k++) {
      const a = onWasm[k] ?? new Float32Array();
      const b = onCpu[k] ?? new Float32Array();
      const scale = Math.max(...b.map(Math.abs));
      const err = Math.max(...a.map((v, i) => Math.abs(v - (b[i] ?? 0))));
      // Same float32 arithmetic in another order: ~1e-6 relative.
      expect(err / scale).toBeLessThan(1e-5);
    }
  });
});
