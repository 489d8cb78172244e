// Building blocks shared by both families: the DiffiT transformer block [P Eq 7-8], the
// time embedder and the label embedder. Each builder returns the Value it produced.
import type { SpecPath } from "../diagnostics.ts";
import type { GraphBuilder, Value } from "./builder.ts";
import type { AttentionMode } from "./types.ts";

export interface BlockConfig {
  width: number;
  heads: number;
  window: number;
  mlpRatio: number;
  timeWidth: number;
  mode: AttentionMode;
  relativePositionBias: boolean;
  qkvBias: boolean;
  layerNormAffine: boolean;
  eps: number;
  dropout: number;
}

function perSample(b: GraphBuilder, name: string, v: Value, width: number, at: SpecPath): Value {
  return b.add("reshape", `${name}.as_grid`, [v], { shape: ["N", 1, 1, width] }, at);
}

/**
 * DiffiT block, pre-norm:  x̂ = x + TMSA(LN(x), x_t);  x = x̂ + MLP(LN(x̂))   [P Eq 7-8].
 * adaln (Fig 7b comparison) modulates both norms and gates both branches as DiT does;
 * time-in-mlp (Table 6 G) adds the projected time token to the MLP input instead.
 */
export function diffitBlock(
  b: GraphBuilder,
  name: string,
  x: Value,
  t: Value,
  c: BlockConfig,
  at: SpecPath,
): Value {
  const C = c.width;
  const ln = (n: string, v: Value) =>
    b.add("layer-norm", `${name}.${n}`, [v], { width: C, eps: c.eps, affine: c.layerNormAffine }, at);
  const drop = (n: string, v: Value) =>
    c.dropout > 0 ? b.add("dropout", `${name}.${n}`, [v], { rate: c.dropout }, at) : v;

  // DiT order of the six modulation vectors: shift, scale, gate for attention, then for the MLP.
  let mod: Value[] = [];
  if (c.mode === "adaln") {
    const s = b.add("silu", `${name}.adaLN_modulation.0`, [t], {}, at);
    const m = b.add(
      "linear",
      `${name}.adaLN_modulation.1`,
      [s],
      { inFeatures: c.timeWidth, outFeatures: 6 * C, bias: true, init: "zeros" },
      at,
    );
    const g = perSample(b, `${name}.adaLN_modulation`, m, 6 * C, at);
    mod = [0, 1, 2, 3, 4, 5].map((k) =>
      b.add("slice", `${name}.adaLN_modulation.chunk${k}`, [g], { axis: 3, start: k * C, size: C }, at),
    );
  }
  const [shift1, scale1, gate1, shift2, scale2, gate2] = mod;

  let h = ln("norm1", x);
  if (shift1 && scale1) h = b.add("modulate", `${name}.modulate1`, [h, shift1, scale1], {}, at);
  let a = b.add(
    "window-attention",
    `${name}.attn`,
    [h, t],
    {
      width: C,
      heads: c.heads,
      window: c.window,
      mode: c.mode,
      timeWidth: c.timeWidth,
      relativePositionBias: c.relativePositionBias,
      qkvBias: c.qkvBias,
    },
    at,
  );
  a = drop("attn_drop", a);
  if (gate1) a = b.add("mul", `${name}.gate1`, [a, gate1], {}, at);
  const x1 = b.add("add", `${name}.residual1`, [x, a], {}, at);

  h = ln("norm2", x1);
  if (shift2 && scale2) h = b.add("modulate", `${name}.modulate2`, [h, shift2, scale2], {}, at);
  if (c.mode === "time-in-mlp") {
    const p = b.add(
      "linear",
      `${name}.time_mlp`,
      [t],
      { inFeatures: c.timeWidth, outFeatures: C, bias: true, init: "xavier-uniform" },
      at,
    );
    h = b.add("add", `${name}.time_in_mlp`, [h, perSample(b, `${name}.time_mlp`, p, C, at)], {}, at);
  }
  const hidden = Math.round(C * c.mlpRatio);
  let m = b.add(
    "linear",
    `${name}.mlp.fc1`,
    [h],
    { inFeatures: C, outFeatures: hidden, bias: true, init: "xavier-uniform" },
    at,
  );
  m = b.add("gelu-tanh", `${name}.mlp.act`, [m], {}, at);
  m = b.add(
    "linear",
    `${name}.mlp.fc2`,
    [m],
    { inFeatures: hidden, outFeatures: C, bias: true, init: "xavier-uniform" },
    at,
  );
  m = drop("mlp_drop", m);
  if (gate2) m = b.add("mul", `${name}.gate2`, [m, gate2], {}, at);
  return b.add("add", `${name}.residual2`, [x1, m], {}, at);
}

export interface TimeConfig {
  embedding: "positional" | "fourier";
  sinusoidDim: number;
  layout: "cos-sin" | "sin-cos";
  maxPeriod: number;
  fourierScale: number;
}

/** Sinusoid (or Fourier features) → Linear → SiLU → Linear, the t-MLP of [OFF] and [P §3.2]. */
export function timeEmbedder(
  b: GraphBuilder,
  name: string,
  t: Value,
  c: TimeConfig,
  width: number,
  at: SpecPath,
): Value {
  const e = b.add(
    "timestep-embedding",
    `${name}.sinusoid`,
    [t],
    {
      kind: c.embedding,
      dim: c.sinusoidDim,
      layout: c.layout,
      maxPeriod: c.maxPeriod,
      fourierScale: c.fourierScale,
    },
    at,
  );
  const h = b.add(
    "linear",
    `${name}.mlp.0`,
    [e],
    { inFeatures: c.sinusoidDim, outFeatures: width, bias: true, init: "normal" },
    at,
  );
  const s = b.add("silu", `${name}.mlp.1`, [h], {}, at);
  return b.add(
    "linear",
    `${name}.mlp.2`,
    [s],
    { inFeatures: width, outFeatures: width, bias: true, init: "normal" },
    at,
  );
}

/** Adds the class embedding to the time token when the model is conditional. */
export function withLabel(
  b: GraphBuilder,
  name: string,
  temb: Value,
  y: Value | undefined,
  rows: number,
  width: number,
  at: SpecPath,
): Value {
  if (!y) return temb;
  const e = b.add("label-embedding", name, [y], { rows, width }, at);
  return b.add("add", "conditioning", [temb, e], {}, at);
}
