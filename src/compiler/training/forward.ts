// The network's forward pass lowered into a training graph: the op families' tensor lowerings
// in their training form (GroupNorm's differs, see ops/norm/tensor.ts), with graph inputs bound
// by the caller (the loss binds preconditioned values), and dropout as a product with a mask the
// caller supplies as a graph input (drawn in JS by the tfjs trainer's own seeded generator, so
// both engines drop the same units).

import type { Graph, NodeOf } from "../ir/types.ts";
import { lowerToTensors } from "../ops/tensor.ts";
import type { LowerContext, Val } from "../tensor/lower-context.ts";

/** The graph input holding the scaled keep-mask (0 or 1/(1 − rate)) of a dropout node, channels-last. */
export type DropoutMask = (node: NodeOf<"dropout">) => string;

export function lowerForward(
  graph: Graph,
  ctx: LowerContext,
  bind: (role: "x" | "t" | "y") => Val,
  dropoutMask?: DropoutMask,
): Val {
  const values: Val[] = [];
  for (const node of graph.nodes) {
    if (node.op === "input") {
      values[node.id] = bind(node.attrs.role);
      continue;
    }
    const ins = node.inputs.map((id) => {
      const v = values[id];
      if (!v) throw new Error(`${node.name} reads node ${id} before it was lowered`);
      return v;
    });
    if (node.op === "dropout" && node.attrs.rate > 0 && dropoutMask) {
      const x = ins[0];
      if (!x) throw new Error(`${node.name} has no input`);
      const mask = dropoutMask(node);
      const m =
        x.layout === "NCHW" ? ctx.b.op("Transpose", [mask], `${mask}/NCHW`, { perm: [0, 3, 1, 2] }) : mask;
      values[node.id] = { name: ctx.b.op("Mul", [x.name, m], node.name), layout: x.layout };
      continue;
    }
    values[node.id] = lowerToTensors(node, ins, ctx, "training");
  }
  const out = values[graph.outputs.out ?? -1];
  if (!out) throw new Error(`${graph.name} has no lowered output`);
  return out;
}
