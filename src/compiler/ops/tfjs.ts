// IR op → tfjs: every op family's tfjs lowering in one table (`satisfies` makes an op without one
// a type error). The IR executor runs nodes through lowerNode; the generated modules'
// primitives (runtime/tfjs/primitives.ts) call the same table entries.
import type * as tf from "@tensorflow/tfjs";
import type { NodeOf, OpKind } from "../ir/types.ts";
import { ATTENTION_TFJS } from "./attention/tfjs.ts";
import { CONV_TFJS } from "./conv/tfjs.ts";
import { ELEMENTWISE_TFJS } from "./elementwise/tfjs.ts";
import { EMBEDDING_TFJS } from "./embedding/tfjs.ts";
import { INPUT_TFJS } from "./input/tfjs.ts";
import { LAYOUT_TFJS } from "./layout/tfjs.ts";
import { LINEAR_TFJS } from "./linear/tfjs.ts";
import { NORM_TFJS } from "./norm/tfjs.ts";
import { RESAMPLE_TFJS } from "./resample/tfjs.ts";
import type { Params, TfjsLowering } from "./tfjs-lowering.ts";

export const LOWERINGS = {
  ...INPUT_TFJS,
  ...CONV_TFJS,
  ...RESAMPLE_TFJS,
  ...NORM_TFJS,
  ...LINEAR_TFJS,
  ...ELEMENTWISE_TFJS,
  ...LAYOUT_TFJS,
  ...EMBEDDING_TFJS,
  ...ATTENTION_TFJS,
} satisfies { [K in OpKind]: TfjsLowering<K> };

/** The lowering of op `op`. */
export function tfjsLowering<K extends OpKind>(op: K): TfjsLowering<K> {
  return LOWERINGS[op] as TfjsLowering<K>;
}

/** One forward pass. */
export interface LowerContext {
  training: boolean;
  /** Seed for dropout masks of this forward pass (each node adds its id). */
  dropoutSeed: number;
}

/** Runs `node` of an IR graph: its lowering with the node's attributes and inferred output type. */
export function lowerNode<K extends OpKind>(
  node: NodeOf<K>,
  inputs: tf.Tensor[],
  p: Params,
  ctx: LowerContext,
): tf.Tensor {
  const run = { training: ctx.training, seed: ctx.dropoutSeed + node.id };
  return tfjsLowering(node.op)(node.attrs, inputs, p, node.out, run);
}
