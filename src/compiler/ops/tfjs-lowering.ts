// What a tfjs lowering is: a function of the op's attributes, its input tensors, its parameters by
// role and its inferred output type. The IR executor (runtime/tfjs/model.ts) and the generated
// modules' primitives (runtime/tfjs/primitives.ts) call the same lowerings through it. Activations
// are channels-last as in the IR, so no layout conversion is needed.
import type * as tf from "@tensorflow/tfjs";
import type { OpAttrs, OpKind, TensorType } from "../ir/types.ts";

/** An op's parameters by role ("weight", "qkv.bias", …; "table" for one named after the node). */
export type Params = (role: string) => tf.Tensor;

/** One run of one op. */
export interface OpRun {
  training: boolean;
  /** Seed of this op's dropout mask in this forward pass. */
  seed: number;
}

export type TfjsLowering<K extends OpKind> = (
  attrs: OpAttrs[K],
  inputs: tf.Tensor[],
  params: Params,
  /** The op's inferred output type ("N" is the batch). */
  out: TensorType,
  run: OpRun,
) => tf.Tensor;

export function first(inputs: readonly tf.Tensor[]): tf.Tensor {
  const x = inputs[0];
  if (!x) throw new Error("missing input");
  return x;
}

export const x4 = (inputs: readonly tf.Tensor[]) => first(inputs) as tf.Tensor4D;

/** The dims of `out` for a batch of `batch`. */
export const dimsOf = (out: TensorType, batch: number): number[] =>
  out.shape.map((d) => (d === "N" ? batch : d));
