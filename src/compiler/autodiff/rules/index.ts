// Every VJP rule, keyed by the tensor op it differentiates. The table is total: an op without
// a rule is a type error, not a failure in the middle of a training run.
import type { TensorNode, TensorOpKind } from "../../tensor/ops.ts";
import type { Grad, VjpContext, VjpRule } from "../vjp.ts";
import { CONV_VJPS } from "./conv.ts";
import { ELEMENTWISE_VJPS } from "./elementwise.ts";
import { LAYOUT_VJPS } from "./layout.ts";
import { LINALG_VJPS } from "./linalg.ts";
import { NORM_VJPS } from "./norm.ts";

export const VJP_RULES = {
  ...ELEMENTWISE_VJPS,
  ...LINALG_VJPS,
  ...CONV_VJPS,
  ...NORM_VJPS,
  ...LAYOUT_VJPS,
} satisfies { [K in TensorOpKind]: VjpRule<K> };

/** The input gradients of `node` by its op's rule. */
export function vjpOf(
  node: TensorNode,
  grads: readonly (string | undefined)[],
  needs: readonly boolean[],
  ctx: VjpContext,
): (Grad | undefined)[] {
  const rule = VJP_RULES[node.op] as VjpRule<typeof node.op>;
  return rule(node as never, grads, needs, ctx);
}
