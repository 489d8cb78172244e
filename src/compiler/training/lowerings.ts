// Lowerings the training graph uses in place of the inference emitter's, where a different but
// equal form differentiates cheaper: GroupNorm as one LayerNormalization over each (sample,
// group) row, whose VJP reuses the op's saved statistics, instead of a mean/variance chain of
// nine ops that the reverse pass would differentiate one by one. Same math as
// tensor/lower-model.ts: statistics over C/G channels × H × W, then a per-channel affine.

import type { NodeOf } from "../ir/types.ts";
import type { LowerContext, Val } from "../tensor/lower-context.ts";

export function groupNormForTraining(n: NodeOf<"group-norm">, ins: Val[], ctx: LowerContext): Val {
  const b = ctx.b;
  const x0 = ins[0];
  if (!x0) throw new Error(`${n.name} has no input`);
  const x = ctx.as(x0, "NCHW");
  const [, H, W, C] = n.out.shape as [unknown, number, number, number];
  const row = (C / n.attrs.groups) * H * W;
  const rows = b.op("Reshape", [x.name, b.ints([-1, n.attrs.groups, row])], `${n.name}/groups`); // [N, G, C/G·H·W]
  const normed = b.op(
    "LayerNormalization",
    [rows, b.constant(new Array(row).fill(1), [row])],
    `${n.name}/normed`,
    {
      axis: 2,
      epsilon: n.attrs.eps,
    },
  );
  const back = b.op("Reshape", [normed, b.ints([-1, C, H, W])], `${n.name}/back`);
  const scaled = b.op("Mul", [back, ctx.weight(n, "weight", "c11")], `${n.name}/scale`);
  return { name: b.op("Add", [scaled, ctx.weight(n, "bias", "c11")], n.name), layout: "NCHW" };
}
