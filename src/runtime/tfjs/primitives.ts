// The stable runtime facade of generated TypeScript models (`diffit compile`): one function per IR
// op, each running exactly the tfjs lowering the IR executor runs (LOWERINGS), so a generated
// `forward` and `TfjsModel.forward` compute the same thing. Inference only: dropout passes through.
//
// Every primitive takes the op's IR attributes, its input tensors, and (for ops with parameters)
// its parameters by role, e.g. `conv2d(attrs, [x], { weight, bias })`.
import type * as tf from "@tensorflow/tfjs";
import type { NodeOf, OpAttrs, OpKind } from "../../compiler/ir/types.ts";
import { lowerNode } from "./lower.ts";

/** An op's parameters by role ("weight", "bias", "qkv.weight", …). */
export type RoleTensors = Readonly<Record<string, tf.Tensor>>;

export type Primitive<K extends OpKind> = (
  attrs: OpAttrs[K],
  inputs: readonly tf.Tensor[],
  params?: RoleTensors,
) => tf.Tensor;

function primitive<K extends Exclude<OpKind, "input">>(op: K): Primitive<K> {
  return (attrs, inputs, params = {}) => {
    const node = {
      id: 0,
      op,
      name: op,
      inputs: [],
      attrs,
      params: {},
      out: { shape: [], dtype: "float32" },
      at: [],
    } as unknown as NodeOf<K>;
    const p = (role: string): tf.Tensor => {
      const t = params[role];
      if (!t) throw new Error(`${op} needs parameter ${role}`);
      return t;
    };
    return lowerNode(node, [...inputs], p, { training: false, dropoutSeed: 0 });
  };
}

/** Ops without attributes take only their inputs. */
function plain<K extends "gelu-tanh" | "silu" | "add" | "mul" | "modulate">(
  op: K,
): (inputs: readonly tf.Tensor[]) => tf.Tensor {
  const f = primitive(op);
  return (inputs) => f({} as OpAttrs[K], inputs);
}

export const conv2d = primitive("conv2d");
export const convTranspose2d = primitive("conv-transpose2d");
export const avgPool = primitive("avg-pool");
export const resize = primitive("resize");
export const groupNorm = primitive("group-norm");
export const layerNorm = primitive("layer-norm");
export const linear = primitive("linear");
export const geluTanh = plain("gelu-tanh");
export const silu = plain("silu");
export const add = plain("add");
export const mul = plain("mul");
/** x · (1 + scale) + shift, inputs [x, shift, scale]. */
export const modulate = plain("modulate");
/** Inference: returns its input. */
export const dropout = primitive("dropout");
export const concat = primitive("concat");
export const reshape = primitive("reshape");
export const slice = primitive("slice");
export const unpatchify = primitive("unpatchify");
export const addPosition = primitive("add-position");
export const timestepEmbedding = primitive("timestep-embedding");
export const labelEmbedding = primitive("label-embedding");
/** TMSA: inputs [tokens, time token]. */
export const windowAttention = primitive("window-attention");
