// The contract of a vector-Jacobian rule: given a forward ONNX node and the gradients of its
// outputs, emit ONNX nodes computing the gradients of the inputs that need one. Rules are pure
// graph construction; static shapes come from the ShapeTable of the forward graph.
import type { OnnxGraphBuilder } from "../emit/onnx/graph-builder.ts";
import type { NodeProto } from "../emit/onnx/proto.ts";
import type { Dims, ShapeTable } from "./shapes.ts";

export interface VjpContext {
  readonly b: OnnxGraphBuilder;
  readonly shapes: ShapeTable;
  /** Records the shape of a value a rule creates, for rules that read it later (LayerNorm stats). */
  declare(name: string, dims: Dims): void;
}

/**
 * The gradient of a one-index Gather: `value` belongs at `index` of `axis` in a tensor of shape
 * `dims`, zeros elsewhere. Kept symbolic so that the reverse pass joins the slots a value's
 * gathers fill (the q, k, v split of attention) with one Concat, not with Pads and a Sum.
 */
export interface Slot {
  slot: string;
  axis: number;
  index: number;
  dims: Dims;
}

export type Grad = string | Slot;

/**
 * Gradients of the node's inputs, in input order; `undefined` where none is needed (needs[i]
 * false) or where the input does not influence the outputs (an index, a shape).
 */
export type VjpRule = (
  node: NodeProto,
  grads: readonly (string | undefined)[],
  needs: readonly boolean[],
  ctx: VjpContext,
) => (Grad | undefined)[];

/** ReduceSum over `axes` (opset ≥ 13 takes them as an input). */
export function reduceSum(ctx: VjpContext, x: string, axes: readonly number[], keep: boolean, hint: string) {
  return ctx.b.op("ReduceSum", [x, ctx.b.ints([...axes])], hint, { keepdims: keep ? 1 : 0 });
}

/** Undoes numpy broadcasting: sums `g` (shaped `from`) down to shape `to`. */
export function sumTo(ctx: VjpContext, g: string, from: Dims, to: Dims, hint: string): string {
  const lead = from.length - to.length;
  const axes: number[] = [];
  for (let i = 0; i < from.length; i++) {
    const t = i < lead ? undefined : to[i - lead];
    if (t === undefined || (t === 1 && from[i] !== 1)) axes.push(i);
  }
  if (axes.length === 0) return g;
  const summed = reduceSum(ctx, g, axes, true, `${hint}/sum`);
  return lead > 0 ? ctx.b.op("Reshape", [summed, ctx.b.ints([...to])], `${hint}/unbroadcast`) : summed;
}

export function inverse(perm: readonly number[]): number[] {
  const out = new Array<number>(perm.length).fill(0);
  perm.forEach((p, i) => {
    out[p] = i;
  });
  return out;
}

export const gradOf = (grads: readonly (string | undefined)[], i = 0): string => {
  const g = grads[i];
  if (g === undefined) throw new Error("a VJP rule ran without an output gradient");
  return g;
};
