// Model IR op → tensor-tier ops: every op family's decompositions in one table (`satisfies` makes
// an op without one a type error). The ONNX export renders the result as it is and the training
// step differentiates it (src/compiler/autodiff), so every model op reaches a target, and its
// gradient, through the tensor ops' rules. Standard ONNX ops only.
import type { NodeOf, OpKind } from "../ir/types.ts";
import type { LowerContext, TensorLowering, Val } from "../tensor/lower-context.ts";
import { ATTENTION_TENSOR } from "./attention/tensor.ts";
import { CONV_TENSOR } from "./conv/tensor.ts";
import { ELEMENTWISE_TENSOR } from "./elementwise/tensor.ts";
import { EMBEDDING_TENSOR } from "./embedding/tensor.ts";
import { INPUT_TENSOR } from "./input/tensor.ts";
import { LAYOUT_TENSOR } from "./layout/tensor.ts";
import { LINEAR_TENSOR } from "./linear/tensor.ts";
import { NORM_TENSOR, NORM_TRAINING_TENSOR } from "./norm/tensor.ts";
import { RESAMPLE_TENSOR } from "./resample/tensor.ts";

export const TENSOR_LOWERINGS = {
  ...INPUT_TENSOR,
  ...CONV_TENSOR,
  ...RESAMPLE_TENSOR,
  ...NORM_TENSOR,
  ...LINEAR_TENSOR,
  ...ELEMENTWISE_TENSOR,
  ...LAYOUT_TENSOR,
  ...EMBEDDING_TENSOR,
  ...ATTENTION_TENSOR,
} satisfies { [K in OpKind]: TensorLowering<K> };

/** The training step's forms: the same math in a form that differentiates cheaper. */
export const TRAINING_TENSOR_LOWERINGS = {
  ...NORM_TRAINING_TENSOR,
} satisfies { [K in OpKind]?: TensorLowering<K> };

/** The decomposition of `node`: the inference form (ONNX export), or the training step's. */
export function lowerToTensors<K extends OpKind>(
  node: NodeOf<K>,
  ins: Val[],
  ctx: LowerContext,
  form: "inference" | "training" = "inference",
): Val {
  const training: { [J in OpKind]?: TensorLowering<J> } = TRAINING_TENSOR_LOWERINGS;
  const lower = (form === "training" ? training[node.op] : undefined) ?? TENSOR_LOWERINGS[node.op];
  return (lower as TensorLowering<K>)(node, ins, ctx);
}
