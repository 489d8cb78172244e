// VJPs of the ops that only move data: Transpose, Reshape, Unsqueeze, Expand, Concat, Slice,
// Pad, Gather, OneHot, and the resolution changes AveragePool and Resize.
// A Gather from a table (embeddings, the relative-position bias) scatters its gradient back
// with a one-hot matrix product, duplicates summed; a Gather of one index (qkv split) pads.
import type { TensorNode } from "../../tensor/ops.ts";
import { arg, gradOf, inverse, noGradient, out, reduceSum, sumTo, type VjpContext } from "../vjp.ts";
import type { VjpRules } from "./table.ts";

/** Reshape and Unsqueeze only relabel the shape: the gradient is reshaped back to the input's. */
const reshapeToInput = (
  node: TensorNode,
  grads: readonly (string | undefined)[],
  needs: readonly boolean[],
  ctx: VjpContext,
) =>
  needs[0]
    ? [ctx.b.op("Reshape", [gradOf(grads), ctx.b.ints([...ctx.b.dims(arg(node, 0))])], `${out(node)}/grad`)]
    : [];

export const LAYOUT_VJPS = {
  Transpose: (node, grads, needs, ctx) => {
    if (!needs[0]) return [];
    return [ctx.b.op("Transpose", [gradOf(grads)], `${out(node)}/grad`, { perm: inverse(node.attrs.perm) })];
  },
  Reshape: reshapeToInput,
  Unsqueeze: reshapeToInput,
  // Expand broadcasts: the gradient is summed back over the broadcast axes.
  Expand: (node, grads, needs, ctx) =>
    needs[0]
      ? [sumTo(ctx, gradOf(grads), ctx.b.dims(out(node)), ctx.b.dims(arg(node, 0)), `${out(node)}/grad`)]
      : [],
  // Split: the outputs' gradients joined back, zeros for an output that has none.
  Split: (node, grads, needs, ctx) => {
    if (!needs[0]) return [];
    const b = ctx.b;
    const parts = node.outputs.map(
      (o, i) => grads[i] ?? b.op("Expand", [b.scalar(0), b.ints([...b.dims(o)])], `${o}/zero_grad`),
    );
    return [b.op("Concat", parts, `${out(node)}/grad`, { axis: node.attrs.axis })];
  },
  // Zero padding: the gradient is the interior, cut back out.
  Pad: (node, grads, needs, ctx) => {
    if (!needs[0]) return [];
    const s = ctx.b.dims(arg(node, 0));
    const pads = ctx.b.valuesOf(arg(node, 1));
    const b = ctx.b;
    const starts = s.map((_, i) => pads[i] ?? 0);
    const ends = s.map((d, i) => (pads[i] ?? 0) + d);
    const axes = s.map((_, i) => i);
    return [b.op("Slice", [gradOf(grads), b.ints(starts), b.ints(ends), b.ints(axes)], `${out(node)}/grad`)];
  },
  // Indices carry no gradient.
  OneHot: noGradient,
  Concat: (node, grads, needs, ctx) => {
    const g = gradOf(grads);
    const ins = node.inputs;
    const rank = ctx.b.dims(out(node)).length;
    const a0 = node.attrs.axis;
    const axis = a0 < 0 ? a0 + rank : a0;
    let start = 0;
    return ins.map((name, i) => {
      const size = ctx.b.dims(name)[axis] ?? 1;
      const from = start;
      start += size;
      if (!needs[i]) return undefined;
      return ctx.b.op(
        "Slice",
        [g, ctx.b.ints([from]), ctx.b.ints([from + size]), ctx.b.ints([axis])],
        `${out(node)}/grad${i}`,
      );
    });
  },
  Slice: (node, grads, needs, ctx) => {
    if (!needs[0]) return [];
    const s = ctx.b.dims(arg(node, 0));
    const starts = ctx.b.valuesOf(arg(node, 1));
    const ends = ctx.b.valuesOf(arg(node, 2));
    const axes = node.inputs[3] ? ctx.b.valuesOf(arg(node, 3)) : starts.map((_, i) => i);
    if (node.inputs[4] && ctx.b.valuesOf(arg(node, 4)).some((x) => x !== 1))
      throw new Error(`no VJP for a strided Slice (${node.name})`);
    const pads = new Array<number>(2 * s.length).fill(0);
    axes.forEach((a0, i) => {
      const a = a0 < 0 ? a0 + s.length : a0;
      const d = s[a] ?? 1;
      const clamp = (v: number) => Math.max(0, Math.min(d, v < 0 ? v + d : v));
      pads[a] = clamp(starts[i] ?? 0);
      pads[a + s.length] = d - clamp(ends[i] ?? d);
    });
    return [ctx.b.op("Pad", [gradOf(grads), ctx.b.ints(pads)], `${out(node)}/grad`)];
  },
  Gather: (node, grads, needs, ctx) => {
    if (!needs[0]) return [];
    const g = gradOf(grads);
    const data = ctx.b.dims(arg(node, 0));
    const idx = arg(node, 1);
    const idxShape = ctx.b.dims(idx);
    const a0 = node.attrs.axis;
    const axis = a0 < 0 ? a0 + data.length : a0;
    const h = `${out(node)}/grad`;
    if (idxShape.length === 0) {
      const at = ctx.b.valuesOf(idx)[0] ?? 0;
      return [{ slot: g, axis, index: at < 0 ? at + (data[axis] ?? 1) : at, dims: data }];
    }
    if (axis !== 0 && idxShape.length !== 1)
      throw new Error(`no VJP for a Gather of ${idxShape.length}-D indices on axis ${axis} (${node.name})`);
    // d table = onehot(idx)ᵀ · g over the flattened lookups: [R, K]·[K, rest]. On another axis
    // the looked-up axis is moved to the front first, and the result moved back.
    const rows = data[axis] ?? 1;
    const others = data.filter((_, i) => i !== axis);
    const rest = others.reduce((a, b) => a * b, 1);
    const front = [axis, ...data.map((_, i) => i).filter((i) => i !== axis)];
    const gFront = axis === 0 ? g : ctx.b.op("Transpose", [g], `${h}/front`, { perm: front });
    // onnxruntime's OneHot takes int64 indices with an int64 depth (not int32 with int64).
    const idx64 = ctx.b.op("Cast", [idx], `${h}/idx64`, { to: 7 });
    const flatIdx = ctx.b.op("Reshape", [idx64, ctx.b.ints([-1])], `${h}/idx`);
    const onehot = ctx.b.op(
      "OneHot",
      [flatIdx, ctx.b.ints([rows]), ctx.b.constant([0, 1], [2])],
      `${h}/onehot`,
      { axis: -1 },
    );
    const g2 = ctx.b.op("Reshape", [gFront, ctx.b.ints([-1, rest])], `${h}/g2`);
    const table = ctx.b.op("Gemm", [onehot, g2], `${h}/table`, { transA: 1 });
    if (axis === 0) return [ctx.b.op("Reshape", [table, ctx.b.ints([...data])], h)];
    const shaped = ctx.b.op("Reshape", [table, ctx.b.ints([rows, ...others])], `${h}/shaped`);
    return [ctx.b.op("Transpose", [shaped], h, { perm: inverse(front) })];
  },
  // Non-overlapping pooling (kernel = stride = s): each input pixel gets g/s² of its window.
  AveragePool: (node, grads, needs, ctx) => {
    if (!needs[0]) return [];
    const [n = 1, c = 1, H = 1, W = 1] = ctx.b.dims(arg(node, 0));
    const k = node.attrs.kernel_shape;
    const s = node.attrs.strides ?? [1, 1];
    if (k[0] !== s[0] || k[1] !== s[1] || (node.attrs.pads ?? []).some((p) => p !== 0))
      throw new Error(`no VJP for an overlapping or padded AveragePool (${node.name})`);
    const [sh = 1, sw = 1] = s;
    const h = `${out(node)}/grad`;
    const g6 = ctx.b.op("Reshape", [gradOf(grads), ctx.b.ints([n, c, H / sh, 1, W / sw, 1])], `${h}/g6`);
    const spread = ctx.b.op("Expand", [g6, ctx.b.ints([n, c, H / sh, sh, W / sw, sw])], `${h}/spread`);
    const scaled = ctx.b.op("Mul", [spread, ctx.b.scalar(1 / (sh * sw))], `${h}/scaled`);
    return [ctx.b.op("Reshape", [scaled, ctx.b.ints([n, c, H, W])], h)];
  },
  // Nearest upsampling by an integer factor (asymmetric, floor): each input pixel sums its block.
  // Bilinear ×2 (half_pixel): the adjoint of the separable stencil, one spatial axis at a time.
  Resize: (node, grads, needs, ctx) => {
    if (!needs[0]) return [];
    const a = node.attrs;
    const mode = a.mode;
    const [n = 1, c = 1, H = 1, W = 1] = ctx.b.dims(arg(node, 0));
    const [, , OH = 1, OW = 1] = ctx.b.dims(out(node));
    const h = `${out(node)}/grad`;
    if (mode === "linear") {
      if (OH !== 2 * H || OW !== 2 * W || a.coordinate_transformation_mode !== "half_pixel")
        throw new Error(`no VJP for this linear Resize (${node.name}); only ×2 with half_pixel`);
      const alongH = bilinearAdjoint(ctx, gradOf(grads), [n, c, H, 2, OW], 2, `${h}/h`);
      const back = ctx.b.op("Reshape", [alongH, ctx.b.ints([n, c, H, W, 2])], `${h}/w_pairs`);
      return [
        ctx.b.op(
          "Reshape",
          [bilinearAdjoint(ctx, back, [n, c, H, W, 2], 3, `${h}/w`), ctx.b.ints([n, c, H, W])],
          h,
        ),
      ];
    }
    if (mode !== "nearest") throw new Error(`no VJP for ${mode} Resize (${node.name})`);
    const g6 = ctx.b.op("Reshape", [gradOf(grads), ctx.b.ints([n, c, H, OH / H, W, OW / W])], `${h}/g6`);
    return [
      ctx.b.op("Reshape", [reduceSum(ctx, g6, [3, 5], false, `${h}/blocks`), ctx.b.ints([n, c, H, W])], h),
    ];
  },
} satisfies VjpRules;

/**
 * Adjoint of 1-D bilinear ×2 up-sampling with half-pixel centres and edge clamping, along `axis`
 * of g viewed as `pairs` (that axis of length n, followed by the output's (even, odd) pair axis):
 *   y[2k] = ¾x[k] + ¼x[k−1],  y[2k+1] = ¾x[k] + ¼x[k+1]  (indices clamped to 0..n−1), so
 *   dx[k] = ¾(e[k] + o[k]) + ¼(e[k+1] + o[k−1]), with e[n] := o[n−1] and o[−1] := e[0] at the edges.
 * Returns [..., n, ...] without the pair axis.
 */
function bilinearAdjoint(ctx: VjpContext, g: string, pairs: number[], axis: number, hint: string): string {
  const b = ctx.b;
  const n = pairs[axis] ?? 1;
  const g2 = b.op("Reshape", [g, b.ints(pairs)], `${hint}/pairs`);
  const half = (i: number, name: string) =>
    b.op(
      "Reshape",
      [
        b.op("Slice", [g2, b.ints([i]), b.ints([i + 1]), b.ints([axis + 1])], `${name}_s`),
        b.ints(pairs.filter((_, j) => j !== axis + 1)),
      ],
      name,
    );
  const e = half(0, `${hint}/even`);
  const o = half(1, `${hint}/odd`);
  const cut = (v: string, from: number, to: number, name: string) =>
    b.op("Slice", [v, b.ints([from]), b.ints([to]), b.ints([axis])], name);
  const next = b.op(
    "Concat",
    [cut(e, 1, n, `${hint}/e_next`), cut(o, n - 1, n, `${hint}/o_last`)],
    `${hint}/next`,
    { axis },
  );
  const prev = b.op(
    "Concat",
    [cut(e, 0, 1, `${hint}/e_first`), cut(o, 0, n - 1, `${hint}/o_prev`)],
    `${hint}/prev`,
    { axis },
  );
  return b.op(
    "Add",
    [
      b.op("Mul", [b.op("Add", [e, o], `${hint}/eo`), b.scalar(0.75)], `${hint}/near`),
      b.op("Mul", [b.op("Add", [next, prev], `${hint}/np`), b.scalar(0.25)], `${hint}/far`),
    ],
    hint,
  );
}
