// What each IR op declares once: its shape rule, its parameters (with init rules and layout
// kinds) and its cost. Each op family (ops/<family>/def.ts) writes these for its ops; the
// family's other files add its lowerings. Analysis and the builder read only this.
import type { Dim, InitRule, OpAttrs, OpKind, Shape, TensorType } from "../ir/types.ts";
import type { ParamLayout } from "./param-layout.ts";

export interface ParamSpec {
  /** Suffix of the parameter name after the node name ("weight", "qkv.bias", ...); "" names it after the node. */
  role: string;
  shape: number[];
  init: InitRule;
  /** How the parameter is laid out outside the IR (PyTorch, official checkpoints, ONNX operators). */
  layout: ParamLayout;
  trainable?: boolean;
}

/** The key of a parameter in its node's `params`: its role, or "table" for one named after the node. */
export const paramKey = (p: Pick<ParamSpec, "role">): string => p.role || "table";

/** How a generated module calls an op: `op.<name>(attrs, inputs, params)`, or `op.<name>(inputs)` when plain. */
export interface PrimitiveName {
  name: string;
  /** The op has no attributes and no parameters. */
  plain?: true;
}

/** Multiply-accumulates per sample: linear/conv layers, and attention matmuls (QKᵀ and AV). */
export interface Macs {
  linear: number;
  attention: number;
}

export interface OpDef<K extends OpKind> {
  /** Output type, or a message saying which input is wrong. */
  infer(attrs: OpAttrs[K], inputs: readonly TensorType[]): TensorType | string;
  params(attrs: OpAttrs[K]): ParamSpec[];
  macs(attrs: OpAttrs[K], inputs: readonly TensorType[], out: TensorType): Macs;
}

/** A zero-initialised per-channel vector (a bias). */
export const zerosVector = (role: string, n: number): ParamSpec => ({
  role,
  shape: [n],
  init: { kind: "zeros" },
  layout: "vector",
});

export const NO_MACS: Macs = { linear: 0, attention: 0 };
export const noParams = (): ParamSpec[] => [];
export const noMacs = (): Macs => NO_MACS;

/** Elements of one sample (the symbolic batch dimension excluded). */
export function perSample(shape: Shape): number {
  return shape.reduce<number>((n, d) => (d === "N" ? n : n * d), 1);
}

export const f32 = (shape: Shape): TensorType => ({ shape, dtype: "float32" });

export function expectRank(t: TensorType | undefined, rank: number, what: string): string | undefined {
  if (!t) return `missing input ${what}`;
  if (t.shape.length !== rank) return `${what} must have rank ${rank}, got [${t.shape.join(", ")}]`;
  return undefined;
}

export function lastDim(t: TensorType): Dim | undefined {
  return t.shape[t.shape.length - 1];
}

export function weightInit(
  kind: "xavier-uniform" | "normal" | "zeros",
  fanIn: number,
  fanOut: number,
): InitRule {
  if (kind === "zeros") return { kind: "zeros" };
  if (kind === "normal") return { kind: "normal", std: 0.02 };
  return { kind: "xavier-uniform", fanIn, fanOut };
}
