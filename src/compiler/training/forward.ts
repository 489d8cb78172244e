// The network's forward pass lowered into a training graph: the inference emitter's per-op
// lowerings (GroupNorm excepted, see lowerings.ts), with graph inputs bound by the caller (the training step binds preconditioned
// values; the autodiff tests bind raw inputs).
import type { LowerContext, Val } from "../emit/onnx/context.ts";
import { lowerOnnx } from "../emit/onnx/lower.ts";
import type { Graph } from "../ir/types.ts";
import { groupNormForTraining } from "./lowerings.ts";

export function lowerForward(graph: Graph, ctx: LowerContext, bind: (role: "x" | "t" | "y") => Val): Val {
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
    values[node.id] =
      node.op === "group-norm" ? groupNormForTraining(node, ins, ctx) : lowerOnnx(node, ins, ctx);
  }
  const out = values[graph.outputs.out ?? -1];
  if (!out) throw new Error(`${graph.name} has no lowered output`);
  return out;
}
