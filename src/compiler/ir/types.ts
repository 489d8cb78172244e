// The IR: a typed, backend-neutral graph of high-level ops. Conventions every emitter relies on:
// - activations are channels-last: images and token grids are [N, H, W, C]; per-sample vectors [N, C];
// - "N" is the symbolic batch dimension; every other dimension is static;
// - linear weights are [in, out]; conv weights are [kh, kw, in, out] (also for transposed convs);
// - MACs are per sample (batch 1), as the paper's FLOP counts are.

import type { SpecPath } from "../diagnostics.ts";
import type { AttentionAttrs } from "../ops/attention/def.ts";
import type { ConvAttrs } from "../ops/conv/def.ts";
import type { ElementwiseAttrs } from "../ops/elementwise/def.ts";
import type { EmbeddingAttrs } from "../ops/embedding/def.ts";
import type { InputAttrs } from "../ops/input/def.ts";
import type { LayoutAttrs } from "../ops/layout/def.ts";
import type { LinearAttrs } from "../ops/linear/def.ts";
import type { NormAttrs } from "../ops/norm/def.ts";
import type { ResampleAttrs } from "../ops/resample/def.ts";
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

/**
 * Attributes of every op, assembled from the op families (src/compiler/ops/<family>/def.ts, where
 * each op's attributes are declared); the op name is the discriminant of Node.
 */
export interface OpAttrs
  extends InputAttrs,
    ConvAttrs,
    ResampleAttrs,
    NormAttrs,
    LinearAttrs,
    ElementwiseAttrs,
    LayoutAttrs,
    EmbeddingAttrs,
    AttentionAttrs {}

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
