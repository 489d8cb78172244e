// VJPs of the normalising and reducing ops: LayerNormalization, Softmax, ReduceMean, ReduceSum.
// LayerNormalization's optional Mean and InvStdDev outputs are switched on in the forward node,
// so the backward pass reuses the statistics instead of recomputing them.
import type { NodeProto } from "../../emit/onnx/proto.ts";
import { attrInt, attrInts, input, isConstantOnes, output } from "../onnx-attrs.ts";
import type { Dims } from "../shapes.ts";
import { gradOf, reduceSum, type VjpContext, type VjpRule } from "../vjp.ts";

const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** Reduction axes of a ReduceMean/ReduceSum node (attribute before opset 18, input since). */
function reduceAxes(node: NodeProto, ctx: VjpContext, rank: number): number[] {
  const fromInput = node.input?.[1];
  const axes = fromInput ? ctx.shapes.constant(fromInput) : (attrInts(node, "axes") ?? range(0, rank));
  return axes.map((a) => norm(a, rank));
}

/** g (the reduced shape) broadcast back over the reduced axes of `x`, times `factor`. */
function spread(ctx: VjpContext, node: NodeProto, g: string, x: Dims, factor: number): string {
  const axes = reduceAxes(node, ctx, x.length);
  const h = `${output(node)}/grad`;
  const kept = attrInt(node, "keepdims", 1) === 1;
  const keptDims = x.map((d, i) => (axes.includes(i) ? 1 : d));
  const g4 = kept ? g : ctx.b.op("Reshape", [g, ctx.b.ints(keptDims)], `${h}/keep`);
  const scaled = factor === 1 ? g4 : ctx.b.op("Mul", [g4, ctx.b.scalar(factor)], `${h}/scale`);
  return ctx.b.op("Expand", [scaled, ctx.b.ints([...x])], h);
}

export const NORM_VJPS = {
  LayerNormalization: (node, grads, needs, ctx) => {
    const g = gradOf(grads);
    const x = input(node, 0);
    const sx = ctx.shapes.get(x);
    const axis = norm(attrInt(node, "axis", -1), sx.length);
    const h = `${output(node)}/grad`;
    const outs = node.output ?? [];
    if (outs.length < 3) {
      const stats = sx.map((d, i) => (i < axis ? d : 1));
      const mean = ctx.b.fresh(`${output(node)}/mean`);
      const inv = ctx.b.fresh(`${output(node)}/inv_std`);
      node.output = [output(node), mean, inv];
      ctx.declare(mean, stats);
      ctx.declare(inv, stats);
    }
    const [mean, inv] = [output(node, 1), output(node, 2)];
    const lead = range(0, axis);
    const normed = range(axis, sx.length);
    const count = normed.reduce((n, i) => n * (sx[i] ?? 1), 1);
    // x̂ = (x − μ)·r;  dx = r·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)),  dx̂ = g·γ.
    const xhat = ctx.b.op("Mul", [ctx.b.op("Sub", [x, mean], `${h}/xc`), inv], `${h}/xhat`);
    const dscale = needs[1]
      ? reduceSum(ctx, ctx.b.op("Mul", [g, xhat], `${h}/gx`), lead, false, `${h}/dscale`)
      : undefined;
    const dbias = needs[2] ? reduceSum(ctx, g, lead, false, `${h}/dbias`) : undefined;
    let dx: string | undefined;
    if (needs[0]) {
      // GroupNorm lowered for training passes a constant ones scale: nothing to multiply.
      const dxhat = isConstantOnes(ctx.b, input(node, 1))
        ? g
        : ctx.b.op("Mul", [g, input(node, 1)], `${h}/dxhat`);
      const meanOf = (v: string, hint: string) =>
        ctx.b.op("Mul", [reduceSum(ctx, v, normed, true, `${hint}_sum`), ctx.b.scalar(1 / count)], hint);
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
    const y = output(node);
    const axis = norm(attrInt(node, "axis", -1), ctx.shapes.get(y).length);
    const h = `${y}/grad`;
    const dot = reduceSum(ctx, ctx.b.op("Mul", [g, y], `${h}/gy`), [axis], true, `${h}/dot`);
    return [ctx.b.op("Mul", [y, ctx.b.op("Sub", [g, dot], `${h}/centred`)], h)];
  },
  ReduceMean: (node, grads, needs, ctx) => {
    if (!needs[0]) return [];
    const x = ctx.shapes.get(input(node, 0));
    const y = ctx.shapes.get(output(node));
    const count = x.reduce((a, b) => a * b, 1) / y.reduce((a, b) => a * b, 1);
    return [spread(ctx, node, gradOf(grads), x, 1 / count)];
  },
  ReduceSum: (node, grads, needs, ctx) =>
    needs[0] ? [spread(ctx, node, gradOf(grads), ctx.shapes.get(input(node, 0)), 1)] : [],
} satisfies Record<string, VjpRule>;
