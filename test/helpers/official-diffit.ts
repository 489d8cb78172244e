// The official latent DiffiT, written naively from DIFFIT.md §2, §4 and §8 for tests: a random
// state_dict with the official names, shapes and buffers, and a forward pass in float64 loops
// over PyTorch layouts (NCHW input, Linear (out, in), Conv2d OIHW). Nothing here imports the
// project's model code, so agreement with it is evidence, not an echo.
import { Rng } from "../../src/runtime/random.ts";

export interface OfficialConfig {
  inputSize: number;
  inChannels: number;
  patch: number;
  hidden: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  classes: number;
  learnSigma: boolean;
}

/** The official model at test size: test/fixtures/checkpoint-import/latent-small.json. */
export const SMALL_CONFIG: OfficialConfig = {
  inputSize: 8,
  inChannels: 4,
  patch: 2,
  hidden: 64,
  depth: 2,
  heads: 4,
  mlpRatio: 4,
  classes: 10,
  learnSigma: true,
};

export interface OfficialTensor {
  dtype: "F32" | "I64";
  shape: number[];
  /** F32 values, or I64 values as numbers. */
  values: Float32Array | Float64Array;
}

export type OfficialStateDict = Map<string, OfficialTensor>;

const grid = (c: OfficialConfig) => c.inputSize / c.patch;
const outChannels = (c: OfficialConfig) => (c.learnSigma ? 2 * c.inChannels : c.inChannels);

/** DiT's get_2d_sincos_pos_embed: column index in the first half, row in the second, [sin | cos]. */
export function sincosTable(gridSize: number, dim: number): Float32Array {
  const oneD = (d: number, pos: number): number[] => {
    const half = d / 2;
    const sin: number[] = [];
    const cos: number[] = [];
    for (let k = 0; k < half; k++) {
      const omega = 1 / 10000 ** (k / half);
      sin.push(Math.sin(pos * omega));
      cos.push(Math.cos(pos * omega));
    }
    return [...sin, ...cos];
  };
  const out: number[] = [];
  for (let h = 0; h < gridSize; h++)
    for (let w = 0; w < gridSize; w++) out.push(...oneD(dim / 2, w), ...oneD(dim / 2, h));
  return Float32Array.from(out);
}

/** Swin's relative_position_index, computed the way the official module builds it. */
export function swinIndex(w: number): Float64Array {
  const n = w * w;
  const coords: [number, number][] = [];
  for (let h = 0; h < w; h++) for (let c = 0; c < w; c++) coords.push([h, c]);
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      const [hi, ci] = coords[i] as [number, number];
      const [hj, cj] = coords[j] as [number, number];
      out[i * n + j] = (hi - hj + w - 1) * (2 * w - 1) + (ci - cj + w - 1);
    }
  return out;
}

/** A state_dict with the official keys and shapes and random values of a useful scale. */
export function randomStateDict(c: OfficialConfig, seed: number): OfficialStateDict {
  const rng = new Rng(seed, "official-state-dict");
  const sd: OfficialStateDict = new Map();
  const C = c.hidden;
  const W = grid(c);
  const rand = (name: string, shape: number[], std: number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    sd.set(name, { dtype: "F32", shape, values: Float32Array.from({ length: n }, () => rng.normal() * std) });
  };
  const linear = (name: string, out: number, inp: number) => {
    rand(`${name}.weight`, [out, inp], 1 / Math.sqrt(inp));
    rand(`${name}.bias`, [out], 0.1);
  };
  rand(
    "x_embedder.proj.weight",
    [C, c.inChannels, c.patch, c.patch],
    1 / Math.sqrt(c.inChannels * c.patch ** 2),
  );
  rand("x_embedder.proj.bias", [C], 0.1);
  sd.set("pos_embed", { dtype: "F32", shape: [1, W * W, C], values: sincosTable(W, C) });
  linear("t_embedder.mlp.0", C, 256);
  linear("t_embedder.mlp.2", C, C);
  rand("y_embedder.embedding_table.weight", [c.classes + 1, C], 0.5);
  for (let i = 0; i < c.depth; i++) {
    const b = `blocks.${i}`;
    linear(`${b}.attn.qkv`, 3 * C, C);
    linear(`${b}.attn.qkv_temb`, 3 * C, C);
    rand(`${b}.attn.relative_position_bias_table`, [(2 * W - 1) ** 2, c.heads], 0.5);
    sd.set(`${b}.attn.relative_position_index`, {
      dtype: "I64",
      shape: [W * W, W * W],
      values: swinIndex(W),
    });
    linear(`${b}.attn.proj`, C, C);
    linear(`${b}.mlp.fc1`, c.mlpRatio * C, C);
    linear(`${b}.mlp.fc2`, C, c.mlpRatio * C);
  }
  linear("final_layer.linear", c.patch ** 2 * outChannels(c), C);
  return sd;
}

// ---- the forward pass ----

const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
const silu = (x: number) => x / (1 + Math.exp(-x));

function layerNorm(x: Float64Array, rows: number, width: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let k = 0; k < width; k++) mean += x[r * width + k] ?? 0;
    mean /= width;
    let v = 0;
    for (let k = 0; k < width; k++) v += ((x[r * width + k] ?? 0) - mean) ** 2;
    v /= width;
    const inv = 1 / Math.sqrt(v + 1e-6);
    for (let k = 0; k < width; k++) out[r * width + k] = ((x[r * width + k] ?? 0) - mean) * inv;
  }
  return out;
}

/** Official forward of one sample: x is (Cin, H, W); returns (Cout, H, W). */
export function officialForward(
  sd: OfficialStateDict,
  c: OfficialConfig,
  x: Float64Array,
  t: number,
  y: number,
): Float64Array {
  const get = (name: string) => {
    const v = sd.get(name);
    if (!v) throw new Error(`state_dict has no ${name}`);
    return v.values;
  };
  /** x·Wᵀ + b for `rows` rows, PyTorch Linear layout. */
  const linear = (name: string, inp: Float64Array, rows: number, inF: number, outF: number) => {
    const w = get(`${name}.weight`);
    const b = get(`${name}.bias`);
    const out = new Float64Array(rows * outF);
    for (let r = 0; r < rows; r++)
      for (let o = 0; o < outF; o++) {
        let s = b[o] ?? 0;
        for (let i = 0; i < inF; i++) s += (inp[r * inF + i] ?? 0) * (w[o * inF + i] ?? 0);
        out[r * outF + o] = s;
      }
    return out;
  };
  const { patch: p, hidden: C, heads, inChannels: Cin, inputSize: S } = c;
  const G = grid(c);
  const T = G * G;
  const d = C / heads;

  // Patch embedding (Conv k=p s=p), tokens row-major, then the position table.
  const convW = get("x_embedder.proj.weight");
  const convB = get("x_embedder.proj.bias");
  const pos = get("pos_embed");
  let h = new Float64Array(T * C);
  for (let r = 0; r < G; r++)
    for (let col = 0; col < G; col++)
      for (let o = 0; o < C; o++) {
        let s = convB[o] ?? 0;
        for (let i = 0; i < Cin; i++)
          for (let kh = 0; kh < p; kh++)
            for (let kw = 0; kw < p; kw++)
              s +=
                (convW[((o * Cin + i) * p + kh) * p + kw] ?? 0) *
                (x[(i * S + r * p + kh) * S + col * p + kw] ?? 0);
        const tok = r * G + col;
        h[tok * C + o] = s + (pos[tok * C + o] ?? 0);
      }

  // Conditioning token: t-MLP of the [cos | sin] sinusoid, plus the label embedding.
  const half = 128;
  const sinusoid = new Float64Array(256);
  for (let k = 0; k < half; k++) {
    const f = Math.exp((-Math.log(10000) * k) / half);
    sinusoid[k] = Math.cos(t * f);
    sinusoid[half + k] = Math.sin(t * f);
  }
  const t1 = linear("t_embedder.mlp.0", sinusoid, 1, 256, C).map(silu);
  const temb = linear("t_embedder.mlp.2", t1, 1, C, C);
  const table = get("y_embedder.embedding_table.weight");
  const cond = temb.map((v, k) => v + (table[y * C + k] ?? 0));

  for (let blk = 0; blk < c.depth; blk++) {
    const b = `blocks.${blk}`;
    // TMSA: qkv(LN(x)) + qkv_temb(cond), split (3, heads, d), scaled q, bias from the table.
    const xn = layerNorm(h, T, C);
    const qkv = linear(`${b}.attn.qkv`, xn, T, C, 3 * C);
    const qkvT = linear(`${b}.attn.qkv_temb`, cond, 1, C, 3 * C);
    for (let i = 0; i < T; i++)
      for (let k = 0; k < 3 * C; k++) qkv[i * 3 * C + k] = (qkv[i * 3 * C + k] ?? 0) + (qkvT[k] ?? 0);
    const biasTable = get(`${b}.attn.relative_position_bias_table`);
    const index = get(`${b}.attn.relative_position_index`);
    const attnOut = new Float64Array(T * C);
    const at = (tok: number, which: number, head: number, k: number) =>
      qkv[tok * 3 * C + which * C + head * d + k] ?? 0;
    for (let hd = 0; hd < heads; hd++)
      for (let i = 0; i < T; i++) {
        const logits = new Float64Array(T);
        for (let j = 0; j < T; j++) {
          let s = 0;
          for (let k = 0; k < d; k++) s += at(i, 0, hd, k) * d ** -0.5 * at(j, 1, hd, k);
          logits[j] = s + (biasTable[(index[i * T + j] ?? 0) * heads + hd] ?? 0);
        }
        const m = Math.max(...logits);
        let z = 0;
        for (let j = 0; j < T; j++) {
          logits[j] = Math.exp((logits[j] ?? 0) - m);
          z += logits[j] ?? 0;
        }
        for (let k = 0; k < d; k++) {
          let s = 0;
          for (let j = 0; j < T; j++) s += ((logits[j] ?? 0) / z) * at(j, 2, hd, k);
          attnOut[i * C + hd * d + k] = s;
        }
      }
    const proj = linear(`${b}.attn.proj`, attnOut, T, C, C);
    h = h.map((v, k) => v + (proj[k] ?? 0));
    const hidden = c.mlpRatio * C;
    const m1 = linear(`${b}.mlp.fc1`, layerNorm(h, T, C), T, C, hidden).map(gelu);
    const m2 = linear(`${b}.mlp.fc2`, m1, T, hidden, C);
    h = h.map((v, k) => v + (m2[k] ?? 0));
  }

  // Final layer: LN, SiLU, Linear; then unpatchify (row-in-patch, column-in-patch, channel).
  const Co = outChannels(c);
  const f = linear("final_layer.linear", layerNorm(h, T, C).map(silu), T, C, p * p * Co);
  const out = new Float64Array(Co * S * S);
  for (let r = 0; r < G; r++)
    for (let col = 0; col < G; col++)
      for (let i = 0; i < p; i++)
        for (let j = 0; j < p; j++)
          for (let ch = 0; ch < Co; ch++)
            out[(ch * S + r * p + i) * S + col * p + j] =
              f[(r * G + col) * p * p * Co + (i * p + j) * Co + ch] ?? 0;
  return out;
}
