// The IR: a typed, backend-neutral graph of high-level ops. Conventions every emitter relies on:
// - activations are channels-last: images and token grids are [N, H, W, C]; per-sample vectors [N, C];
// - "N" is the symbolic batch dimension; every other dimension is static;
// - linear weights are [in, out]; conv weights are [kh, kw, in, out] (also for transposed convs);
// - MACs are per sample (batch 1), as the paper's FLOP counts are.

import type { SpecPath } from "../diagnostics.ts";
import type { ATTENTION_MODES } from "../schema/sections.ts";

export type Dim = number | "N";
export type Shape = readonly Dim[];
export type DType = "float32" | "int32";

export interface TensorType {
  shape: Shape;
  dtype: DType;
}

/** How a parameter is initialised; seeded by the runtime from the parameter's name. */
export type InitRule =
  | { kind: "xavier-uniform"; fanIn: number; fanOut: number }
  | { kind: "zeros" }
  | { kind: "ones" }
  | { kind: "normal"; std: number }
  | { kind: "trunc-normal"; std: number }
  /** Fixed 2-D sin-cos position table (DiT), for a grid×grid token grid. */
  | { kind: "sincos-2d"; grid: number }
  /** Fixed random Fourier frequencies, N(0, scale²). */
  | { kind: "fourier"; scale: number };

export interface ParamDef {
  /** Stable hierarchical name, e.g. "blocks.3.attn.qkv.weight". */
  name: string;
  shape: readonly number[];
  init: InitRule;
  /** Fixed tables (sin-cos positions, Fourier frequencies) are stored but not trained. */
  trainable: boolean;
  /** Id of the node that owns the parameter. */
  node: number;
}

export type AttentionMode = (typeof ATTENTION_MODES)[number];
export type WeightInit = "xavier-uniform" | "normal" | "zeros";

/** Attributes of every op; the op name is the discriminant of Node. */
export interface OpAttrs {
  /** A graph input: x (data), t (noise level or timestep, float), y (class label, int). */
  input: { role: "x" | "t" | "y" };
  conv2d: {
    kernel: number;
    stride: number;
    padding: number;
    inChannels: number;
    outChannels: number;
    bias: boolean;
    init: WeightInit;
  };
  "conv-transpose2d": {
    kernel: number;
    stride: number;
    padding: number;
    outputPadding: number;
    inChannels: number;
    outChannels: number;
    init: WeightInit;
  };
  "avg-pool": { size: number };
  resize: { mode: "nearest" | "bilinear"; scale: number };
  "group-norm": { groups: number; channels: number; eps: number };
  "layer-norm": { width: number; eps: number; affine: boolean };
  linear: { inFeatures: number; outFeatures: number; bias: boolean; init: WeightInit };
  "gelu-tanh": Record<string, never>;
  silu: Record<string, never>;
  /** Elementwise with numpy broadcasting. */
  add: Record<string, never>;
  mul: Record<string, never>;
  /** x · (1 + scale) + shift, inputs [x, shift, scale] (adaLN). */
  modulate: Record<string, never>;
  dropout: { rate: number };
  concat: { axis: number };
  reshape: { shape: Shape };
  slice: { axis: number; start: number; size: number };
  /** [N, h, w, p·p·C] → [N, h·p, w·p, C]; each token's last axis is ordered (row, column, channel) [OFF]. */
  unpatchify: { patch: number; channels: number };
  /** Adds a [grid·grid, width] position table to a [N, grid, grid, width] token grid. */
  "add-position": { grid: number; width: number; learned: boolean };
  /** Sinusoidal or Fourier features of a [N] float input. */
  "timestep-embedding": {
    kind: "positional" | "fourier";
    dim: number;
    layout: "cos-sin" | "sin-cos";
    maxPeriod: number;
    fourierScale: number;
  };
  /** Label table with `rows` entries (classes plus the null class). */
  "label-embedding": { rows: number; width: number };
  /** TMSA: windowed multi-head self-attention whose q, k, v depend on the time token [P Eq 3-6]. */
  "window-attention": {
    width: number;
    heads: number;
    window: number;
    mode: AttentionMode;
    timeWidth: number;
    relativePositionBias: boolean;
    qkvBias: boolean;
  };
}

export type OpKind = keyof OpAttrs;

export interface NodeOf<K extends OpKind> {
  id: number;
  op: K;
  /** Hierarchical name; parameters are named `${name}.${role}`. */
  name: string;
  inputs: readonly number[];
  attrs: OpAttrs[K];
  /** Parameter role → parameter name. */
  params: Readonly<Record<string, string>>;
  out: TensorType;
  /** The spec field that produced the node, for diagnostics. */
  at: SpecPath;
}

export type Node = { [K in OpKind]: NodeOf<K> }[OpKind];

export interface Graph {
  family: "image" | "latent";
  name: string;
  nodes: readonly Node[];
  params: readonly ParamDef[];
  inputs: Readonly<Record<"x" | "t" | "y", number | undefined>>;
  outputs: Readonly<Record<string, number>>;
}

export const formatShape = (s: Shape): string => `[${s.join(", ")}]`;
