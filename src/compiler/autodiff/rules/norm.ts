// VJPs of the normalising and reducing ops: LayerNormalization, Softmax, ReduceMean, ReduceSum.
// LayerNormalization's optional Mean and InvStdDev outputs are switched on in the forward node,
// so the backward pass reuses the statistics instead of recomputing them.
import type { TensorNodeOf } from "../../tensor/ops.ts";
import { arg, type Dims, gradOf, out, reduceSum, type VjpContext } from "../vjp.ts";
import type { VjpRules } from "./table.ts";

const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** Reduction axes of a ReduceMean/ReduceSum node (attribute before opset 18, input since). */
type Reduction = TensorNodeOf<"ReduceMean" | "ReduceSum" | "ReduceSumSquare">;

/** Reduction axes of a node: its axes input, or every axis without one. */
function reduceAxes(node: Reduction, ctx: VjpContext, rank: number): number[] {
  const fromInput = node.inputs[1];
  const axes = fromInput ? ctx.b.valuesOf(fromInput) : range(0, rank);
  return axes.map((a) => norm(a, rank));
}

/** g (the reduced shape) broadcast back over the reduced axes of `x`, times `factor`. */
function spread(ctx: VjpContext, node: Reduction, g: string, x: Dims, factor: number): string {
  const axes = reduceAxes(node, ctx, x.length);
  const h = `${out(node)}/grad`;
  const kept = node.attrs.keepdims === 1;
  const keptDims = x.map((d, i) => (axes.includes(i) ? 1 : d));
  const g4 = kept ? g : ctx.b.op("Reshape", [g, ctx.b.ints(keptDims)], `${h}/keep`);
  const scaled = factor === 1 ? g4 : ctx.b.op("Mul", [g4, ctx.b.scalar(factor)], `${h}/scale`);
  return ctx.b.op("Expand", [scaled, ctx.b.ints([...x])], h);
}

export const NORM_VJPS = {
  LayerNormalization: (node, grads, needs, ctx) => {
    const g = gradOf(grads);
    const x = arg(node, 0);
    const sx = ctx.b.dims(x);
    const axis = norm(node.attrs.axis, sx.length);
    const h = `${out(node)}/grad`;
    // The forward node's optional Mean and InvStdDev outputs, switched on for the backward pass.
    const [, mean = "", inv = ""] = ctx.b.extendOutputs(node, 3);
    const lead = range(0, axis);
    const normed = range(axis, sx.length);
    // x̂ = (x − μ)·r;  dx = r·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)),  dx̂ = g·γ.
    const xhat = ctx.b.op("Mul", [ctx.b.op("Sub", [x, mean], `${h}/xc`), inv], `${h}/xhat`);
    const dscale = needs[1]
      ? reduceSum(ctx, ctx.b.op("Mul", [g, xhat], `${h}/gx`), lead, false, `${h}/dscale`)
      : undefined;
    const dbias = needs[2] ? reduceSum(ctx, g, lead, false, `${h}/dbias`) : undefined;
    let dx: string | undefined;
    if (needs[0]) {
      // GroupNorm lowered for training passes a constant ones scale: nothing to multiply.
      const dxhat = ctx.b.isConstantOnes(arg(node, 1)) ? g : ctx.b.op("Mul", [g, arg(node, 1)], `${h}/dxhat`);
      // One ReduceMean, not a sum then a scale: onnxruntime runs elementwise ops on [rows, 1]
      // (spans of one element) about 20× slower per element than on contiguous data.
      const meanOf = (v: string, hint: string) =>
        ctx.b.op("ReduceMean", [v, ctx.b.ints(normed)], hint, { keepdims: 1 });
      const m1 = meanOf(dxhat, `${h}/m1`);
      const m2 = meanOf(ctx.b.op("Mul", [dxhat, xhat], `${h}/dxx`), `${h}/m2`);
      const inner = ctx.b.op(
        "Sub",
        [ctx.b.op("Sub", [dxhat, m1], `${h}/c1`), ctx.b.op("Mul", [xhat, m2], `${h}/xm2`)],
        `${h}/c2`,
      );
      dx = ctx.b.op("Mul", [inner, inv], `${h}/dx`);
    }
    return [dx, dscale, dbias];
  },
  // y = softmax(x): dx = y·(g − Σ g·y) along the axis.
  Softmax: (node, grads, needs, ctx) => {
    if (!needs[0]) return [];
    const g = gradOf(grads);
    const y = out(node);
    const axis = norm(node.attrs.axis, ctx.b.dims(y).length);
    const h = `${y}/grad`;
    const dot = reduceSum(ctx, ctx.b.op("Mul", [g, y], `${h}/gy`), [axis], true, `${h}/dot`);
    return [ctx.b.op("Mul", [y, ctx.b.op("Sub", [g, dot], `${h}/centred`)], h)];
  },
  ReduceMean: (node, grads, needs, ctx) => {
    if (!needs[0]) return [];
    const x = ctx.b.dims(arg(node, 0));
    const y = ctx.b.dims(out(node));
    const count = x.reduce((a, b) => a * b, 1) / y.reduce((a, b) => a * b, 1);
    return [spread(ctx, node, gradOf(grads), x, 1 / count)];
  },
  ReduceSum: (node, grads, needs, ctx) =>
    needs[0] ? [spread(ctx, node, gradOf(grads), ctx.b.dims(arg(node, 0)), 1)] : [],
  // Σx² : dx = 2x·g spread over the reduced axes.
  ReduceSumSquare: (node, grads, needs, ctx) => {
    if (!needs[0]) return [];
    const x = arg(node, 0);
    const g = spread(ctx, node, gradOf(grads), ctx.b.dims(x), 2);
    return [ctx.b.op("Mul", [g, x], `${out(node)}/grad_x`)];
  },
} satisfies VjpRules;
