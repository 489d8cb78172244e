// The contract of a vector-Jacobian rule: given a forward tensor-tier node and the gradients of
// its outputs, build tensor-tier nodes computing the gradients of the inputs that need one. The
// backward pass is therefore tensor IR itself and is rendered by the same emitters as the
// forward. Static shapes and constant operands come from the graph.
import type { TensorGraph } from "../tensor/graph.ts";
import type { Dims, TensorNodeOf, TensorOpKind } from "../tensor/ops.ts";

export type { Dims };

export interface VjpContext {
  readonly b: TensorGraph;
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
export type VjpRule<K extends TensorOpKind> = (
  node: TensorNodeOf<K>,
  grads: readonly (string | undefined)[],
  needs: readonly boolean[],
  ctx: VjpContext,
) => (Grad | undefined)[];

/** Input `i` of a node (throws when it is absent). */
export function arg(node: { inputs: readonly string[]; name: string }, i: number): string {
  const v = node.inputs[i];
  if (!v) throw new Error(`${node.name} has no input ${i}`);
  return v;
}

/** Output `i` of a node. */
export function out(node: { outputs: readonly string[]; name: string }, i = 0): string {
  const v = node.outputs[i];
  if (v === undefined) throw new Error(`${node.name} has no output ${i}`);
  return v;
}

/** The name prefix of a node's gradient values. */
export const gradHint = (node: { outputs: readonly string[]; name: string }) => `${out(node)}/grad`;

/** ReduceSum over `axes` (axes as a constant input). */
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

/** No gradient flows through the op (comparisons, index arithmetic, casts to integers). */
export const noGradient = () => [];
