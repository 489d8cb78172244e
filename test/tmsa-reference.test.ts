// TMSA [P §3.2 Eq 3-6] of the tfjs runtime against a naive loop implementation written here
// straight from the equations and the official layout (DIFFIT.md §1): per sample, per window,
// per head, per query token
//   q_i = x_i·W_qs + x_t·W_qt + biases (likewise k, v; the fused C→3C output split as (3, heads, d)),
//   logit_ij = q_i·k_j / √d + B[idx(i, j), head],  idx(i, j) = (Δrow + w − 1)(2w − 1) + (Δcol + w − 1),
//   out_i = Σ_j softmax_j(logit_ij) v_j,  then y = out·W_proj + b_proj.
// The reference shares no code with the runtime: no tfjs, no relativePositionIndex, and it
// computes in float64.
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AttentionMode, OpAttrs } from "../src/compiler/ir/types.ts";
import { windowAttention } from "../src/compiler/ops/attention/tfjs.ts";
import { selectBackend } from "../src/runtime/backend.ts";
import { Rng } from "../src/runtime/random.ts";

type Attrs = OpAttrs["window-attention"];

interface Case {
  mode: AttentionMode;
  batch: number;
  height: number;
  width: number;
  channels: number;
  heads: number;
  window: number;
  timeWidth: number;
  relativePositionBias: boolean;
  qkvBias: boolean;
}

/** A tensor's data as row-major float64 values with its shape. */
interface Arr {
  shape: number[];
  data: Float64Array;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Values of order 1 (std 0.5): large enough that a wrong index or a wrong q/k/v split shows. */
function random(rng: Rng, shape: number[], std = 0.5): Arr {
  const data = new Float64Array(size(shape));
  // Round through float32 so that the runtime sees exactly the reference's numbers.
  for (let i = 0; i < data.length; i++) data[i] = Math.fround(rng.normal() * std);
  return { shape, data };
}

const at = (a: Arr, i: number) => a.data[i] ?? Number.NaN;

/** Parameters by role, with the shapes of ops/attention/def.ts ([in, out] weights). */
function makeParams(c: Case, rng: Rng): Map<string, Arr> {
  const C = c.channels;
  const rows = (2 * c.window - 1) ** 2;
  const p = new Map<string, Arr>();
  const wStd = 1 / Math.sqrt(C);
  p.set("qkv.weight", random(rng, [C, 3 * C], wStd));
  if (c.qkvBias) p.set("qkv.bias", random(rng, [3 * C], 0.3));
  if (c.mode === "tmsa") {
    p.set("qkv_temb.weight", random(rng, [c.timeWidth, 3 * C], 1 / Math.sqrt(c.timeWidth)));
    if (c.qkvBias) p.set("qkv_temb.bias", random(rng, [3 * C], 0.3));
  }
  if (c.mode === "time-in-bias") {
    p.set("temb_bias.weight", random(rng, [c.timeWidth, rows * c.heads], 1 / Math.sqrt(c.timeWidth)));
    p.set("temb_bias.bias", random(rng, [rows * c.heads], 0.3));
  }
  if (c.relativePositionBias) p.set("relative_position_bias_table", random(rng, [rows, c.heads], 1));
  p.set("proj.weight", random(rng, [C, C], wStd));
  p.set("proj.bias", random(rng, [C], 0.3));
  return p;
}

/** y = v·W (+ b) for one row vector v, W as [in, out]. */
function rowTimes(v: Float64Array, w: Arr, b: Arr | undefined): Float64Array {
  const [inF = 0, outF = 0] = w.shape;
  const out = new Float64Array(outF);
  for (let o = 0; o < outF; o++) {
    let s = b ? at(b, o) : 0;
    for (let i = 0; i < inF; i++) s += (v[i] ?? 0) * at(w, i * outF + o);
    out[o] = s;
  }
  return out;
}

/** The naive TMSA of Eq 3-6 on [N, H, W, C] channels-last x and [N, T] time token. */
function naiveTmsa(c: Case, x: Arr, temb: Arr, p: Map<string, Arr>): Float64Array {
  const { batch: N, height: H, width: W, channels: C, heads, window: w } = c;
  const d = C / heads;
  const span = 2 * w - 1;
  const rows = span * span;
  const get = (role: string) => {
    const v = p.get(role);
    if (!v) throw new Error(`no ${role}`);
    return v;
  };
  const y = new Float64Array(N * H * W * C);
  for (let n = 0; n < N; n++) {
    const t = temb.data.subarray(n * c.timeWidth, (n + 1) * c.timeWidth);
    // Eq 3-5, temporal part: x_t·[W_qt | W_kt | W_vt] + biases, one vector per sample.
    const temporal =
      c.mode === "tmsa"
        ? rowTimes(t, get("qkv_temb.weight"), p.get("qkv_temb.bias"))
        : new Float64Array(3 * C);
    // time-in-bias (Table 6 F): a per-sample correction of the whole table, laid out [rows, heads].
    const timeTable =
      c.mode === "time-in-bias"
        ? rowTimes(t, get("temb_bias.weight"), get("temb_bias.bias"))
        : new Float64Array(rows * heads);
    const table = p.get("relative_position_bias_table");
    for (let wr = 0; wr < H / w; wr++) {
      for (let wc = 0; wc < W / w; wc++) {
        // Tokens of this window in row-major order, with their grid positions.
        const pos: [number, number][] = [];
        for (let r = 0; r < w; r++) for (let col = 0; col < w; col++) pos.push([wr * w + r, wc * w + col]);
        const qkv = pos.map(([r, col]) => {
          const base = ((n * H + r) * W + col) * C;
          const spatial = rowTimes(x.data.subarray(base, base + C), get("qkv.weight"), p.get("qkv.bias"));
          return spatial.map((s, k) => s + (temporal[k] ?? 0));
        });
        const attnOut = pos.map(() => new Float64Array(C));
        for (let h = 0; h < heads; h++) {
          // The (3, heads, d) split: q, k, v of head h start at 0·C, 1·C, 2·C plus h·d.
          const q = (i: number, e: number) => qkv[i]?.[h * d + e] ?? Number.NaN;
          const k = (j: number, e: number) => qkv[j]?.[C + h * d + e] ?? Number.NaN;
          const v = (j: number, e: number) => qkv[j]?.[2 * C + h * d + e] ?? Number.NaN;
          pos.forEach(([ri, ci], i) => {
            const logits = pos.map(([rj, cj], j) => {
              let s = 0;
              for (let e = 0; e < d; e++) s += q(i, e) * k(j, e);
              s /= Math.sqrt(d);
              const idx = (ri - rj + w - 1) * span + (ci - cj + w - 1);
              if (table) s += at(table, idx * heads + h);
              s += timeTable[idx * heads + h] ?? Number.NaN;
              return s;
            });
            const max = Math.max(...logits);
            const exps = logits.map((l) => Math.exp(l - max));
            const z = exps.reduce((a, b) => a + b, 0);
            for (let e = 0; e < d; e++) {
              let s = 0;
              exps.forEach((ex, j) => {
                s += (ex / z) * v(j, e);
              });
              const o = attnOut[i];
              if (o) o[h * d + e] = s;
            }
          });
        }
        pos.forEach(([r, col], i) => {
          const out = rowTimes(attnOut[i] ?? new Float64Array(C), get("proj.weight"), get("proj.bias"));
          y.set(out, ((n * H + r) * W + col) * C);
        });
      }
    }
  }
  return y;
}

/**
 * Tolerance, as max|runtime − reference| / max|reference|: the runtime computes in float32 (unit
 * roundoff u = 6e-8) and the reference in float64 from the same float32-representable inputs.
 * Each output is a short chain of dot products (length ≤ max(C, w²) = 64) and a softmax over
 * logits of order 1-10; such chains lose a few u in practice (√length·u by the usual random-walk
 * estimate, 64·u in the worst case ≈ 4e-6). The observed error is ≤ 2e-7 in every case here. We
 * allow 1e-5: above the worst-case float32 bound, and four orders of magnitude below what a layout
 * mistake produces (a transposed bias index, a swapped q/k/v split or a wrong window order all
 * change the output by 20-100% of its scale).
 */
const TOLERANCE = 1e-5;

function maxRelativeError(actual: ArrayLike<number>, expected: Float64Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs((actual[i] ?? Number.NaN) - (expected[i] ?? 0)));
    scale = Math.max(scale, Math.abs(expected[i] ?? 0));
  }
  return diff / scale;
}

function runtimeTmsa(c: Case, x: Arr, temb: Arr, p: Map<string, Arr>): Float32Array {
  const attrs: Attrs = {
    width: c.channels,
    heads: c.heads,
    window: c.window,
    mode: c.mode,
    timeWidth: c.timeWidth,
    relativePositionBias: c.relativePositionBias,
    qkvBias: c.qkvBias,
  };
  return tf.tidy(() => {
    const tensors = new Map(
      [...p].map(([role, a]) => [role, tf.tensor(Float32Array.from(a.data), a.shape, "float32")]),
    );
    const params = (role: string) => {
      const t = tensors.get(role);
      if (!t) throw new Error(`windowAttention asked for a parameter it should not have: ${role}`);
      return t;
    };
    const xt = tf.tensor4d(Float32Array.from(x.data), [c.batch, c.height, c.width, c.channels]);
    const tt = tf.tensor(Float32Array.from(temb.data), temb.shape, "float32");
    return windowAttention(attrs, xt, tt, params).dataSync() as Float32Array;
  });
}

const base: Case = {
  mode: "tmsa",
  batch: 2,
  height: 8,
  width: 8,
  channels: 16,
  heads: 2,
  window: 4,
  timeWidth: 6,
  relativePositionBias: true,
  qkvBias: true,
};

function check(c: Case, seed: number): number {
  const rng = new Rng(seed, JSON.stringify(c));
  const x = random(rng, [c.batch, c.height, c.width, c.channels], 1);
  const temb = random(rng, [c.batch, c.timeWidth], 1);
  const p = makeParams(c, rng);
  const expected = naiveTmsa(c, x, temb, p);
  const actual = runtimeTmsa(c, x, temb, p);
  expect(actual.length).toBe(expected.length);
  return maxRelativeError(actual, expected);
}

const label = (c: Case) =>
  `${c.mode}: ${c.batch}×${c.height}×${c.width}×${c.channels}, window ${c.window}, ${c.heads} head(s)` +
  `${c.relativePositionBias ? "" : ", no bias table"}${c.qkvBias ? "" : ", no qkv bias"}`;

describe("TMSA equals a naive loop implementation of Eq 3-6 (cpu backend, float32 vs float64)", () => {
  beforeAll(async () => {
    await selectBackend("cpu");
  });
  afterAll(() => {
    expect(tf.memory().numTensors).toBeLessThan(50);
  });

  const tmsaCases: Case[] = [];
  // Windows 1, 2, 4 tile the 8×8 grid into 64, 16 and 4 windows; window 8 is the global window.
  for (const window of [1, 2, 4, 8])
    for (const heads of [1, 2, 4]) tmsaCases.push({ ...base, window, heads });
  // A rectangular grid catches a window order that swaps rows and columns of windows.
  tmsaCases.push({ ...base, height: 4, width: 8, window: 2, heads: 4 });
  tmsaCases.push({ ...base, height: 8, width: 4, window: 2, heads: 2, channels: 8 });
  tmsaCases.push({ ...base, qkvBias: false, relativePositionBias: false });

  for (const c of tmsaCases) {
    it(label(c), () => {
      expect(check(c, 1)).toBeLessThan(TOLERANCE);
    });
  }

  const ablations: Case[] = [];
  for (const mode of ["time-independent", "time-in-bias"] as const) {
    for (const [window, heads] of [
      [1, 2],
      [2, 1],
      [2, 4],
      [4, 2],
      [8, 4],
    ] as const) {
      ablations.push({ ...base, mode, window, heads });
    }
  }
  ablations.push({
    ...base,
    mode: "time-in-bias",
    relativePositionBias: false,
    height: 4,
    width: 8,
    window: 2,
  });
  for (const c of ablations) {
    it(label(c), () => {
      expect(check(c, 2)).toBeLessThan(TOLERANCE);
    });
  }

  it("the time token matters in tmsa and time-in-bias, and not in time-independent", () => {
    // Guards against a reference and runtime that agree only because both ignore x_t.
    for (const mode of ["tmsa", "time-in-bias", "time-independent"] as const) {
      const c: Case = { ...base, mode };
      const rng = new Rng(3, mode);
      const x = random(rng, [c.batch, c.height, c.width, c.channels], 1);
      const temb = random(rng, [c.batch, c.timeWidth], 1);
      const other = random(rng, [c.batch, c.timeWidth], 1);
      const p = makeParams(c, rng);
      const reference = Float64Array.from(runtimeTmsa(c, x, temb, p));
      const change = maxRelativeError(runtimeTmsa(c, x, other, p), reference);
      if (mode === "time-independent") expect(change).toBe(0);
      else expect(change).toBeGreaterThan(1e-2);
    }
  });
});
