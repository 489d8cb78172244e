// The op registry. `satisfies` makes a missing op a compile error rather than a run-time one.
import type { NodeOf, OpKind, TensorType } from "../ir/types.ts";
import { windowAttention } from "./attention.ts";
import { avgPool, conv2d, convTranspose2d, resize } from "./conv.ts";
import { add, dropout, geluTanh, modulate, mul, silu } from "./elementwise.ts";
import { input, labelEmbedding, timestepEmbedding } from "./embed.ts";
import { addPosition, concat, reshape, slice, unpatchify } from "./layout.ts";
import { linear } from "./linear.ts";
import { groupNorm, layerNorm } from "./norm.ts";
import type { Macs, OpDef } from "./op-def.ts";

export const OPS = {
  input,
  conv2d,
  "conv-transpose2d": convTranspose2d,
  "avg-pool": avgPool,
  resize,
  "group-norm": groupNorm,
  "layer-norm": layerNorm,
  linear,
  "gelu-tanh": geluTanh,
  silu,
  add,
  mul,
  modulate,
  dropout,
  concat,
  reshape,
  slice,
  unpatchify,
  "add-position": addPosition,
  "timestep-embedding": timestepEmbedding,
  "label-embedding": labelEmbedding,
  "window-attention": windowAttention,
} satisfies { [K in OpKind]: OpDef<K> };

export function opDef<K extends OpKind>(op: K): OpDef<K> {
  return OPS[op] as OpDef<K>;
}

/** Re-infers a node's output type (used by the IR verifier). */
export function inferNode<K extends OpKind>(
  n: NodeOf<K>,
  inputs: readonly TensorType[],
): TensorType | string {
  return opDef(n.op).infer(n.attrs, inputs);
}

/** A node's per-sample MACs. */
export function nodeMacs<K extends OpKind>(n: NodeOf<K>, inputs: readonly TensorType[]): Macs {
  return opDef(n.op).macs(n.attrs, inputs, n.out);
}
