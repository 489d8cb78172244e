// GroupNorm and LayerNorm in the tensor tier. GroupNorm has two forms of the same math (statistics
// per (sample, group) over C/G channels × H × W, then a per-channel affine):
// - inference (the ONNX export): decomposed into a mean/variance chain, because
//   GroupNormalization-18/21 is missing or broken in several runtimes (ECOSYSTEM.md §B);
// - training (the ONNX training step): one LayerNormalization over each (sample, group) row, whose
//   VJP reuses the op's saved statistics, instead of nine ops the reverse pass would differentiate
//   one by one.
import type { NodeOf } from "../../ir/types.ts";
import { firstVal, type LowerContext, type TensorLowering, type Val } from "../../tensor/lower-context.ts";
import type { NormOp } from "./def.ts";

interface Groups {
  /** [N, G, C/G·H·W] */
  rows: string;
  /** C/G·H·W */
  row: number;
  /** [C, H, W] of the output. */
  chw: [number, number, number];
}

function groupRows(n: NodeOf<"group-norm">, ins: Val[], ctx: LowerContext): Groups {
  const b = ctx.b;
  const x = ctx.as(firstVal(ins), "NCHW");
  const [, H, W, C] = n.out.shape as [unknown, number, number, number];
  const row = (C / n.attrs.groups) * H * W;
  const rows = b.op("Reshape", [x.name, b.ints([-1, n.attrs.groups, row])], `${n.name}/groups`);
  return { rows, row, chw: [C, H, W] };
}

/** Normalised rows back to NCHW, then the per-channel affine. */
function affine(n: NodeOf<"group-norm">, normed: string, [C, H, W]: Groups["chw"], ctx: LowerContext): Val {
  const b = ctx.b;
  const back = b.op("Reshape", [normed, b.ints([-1, C, H, W])], `${n.name}/back`);
  const scaled = b.op("Mul", [back, ctx.weight(n, "weight", "c11")], `${n.name}/scale`);
  return { name: b.op("Add", [scaled, ctx.weight(n, "bias", "c11")], n.name), layout: "NCHW" };
}

const groupNorm: TensorLowering<"group-norm"> = (n, ins, ctx) => {
  const b = ctx.b;
  const { rows: g, chw } = groupRows(n, ins, ctx);
  const mean = ctx.reduceMean(g, [2], `${n.name}/mean`);
  const centred = b.op("Sub", [g, mean], `${n.name}/centred`);
  const variance = ctx.reduceMean(b.op("Mul", [centred, centred], `${n.name}/sq`), [2], `${n.name}/var`);
  const std = b.op(
    "Sqrt",
    [b.op("Add", [variance, b.scalar(n.attrs.eps)], `${n.name}/var_eps`)],
    `${n.name}/std`,
  );
  return affine(n, b.op("Div", [centred, std], `${n.name}/normed`), chw, ctx);
};

const groupNormTraining: TensorLowering<"group-norm"> = (n, ins, ctx) => {
  const b = ctx.b;
  const { rows, row, chw } = groupRows(n, ins, ctx);
  const ones = b.constant(new Array(row).fill(1), [row]);
  const normed = b.op("LayerNormalization", [rows, ones], `${n.name}/normed`, {
    axis: 2,
    epsilon: n.attrs.eps,
  });
  return affine(n, normed, chw, ctx);
};

export const NORM_TENSOR = {
  "group-norm": groupNorm,
  "layer-norm": (n, ins, ctx) => {
    const x = firstVal(ins);
    const xin = x.layout === "flat" ? x : ctx.as(x, "NHWC");
    const width = n.attrs.width;
    const scale = n.attrs.affine
      ? ctx.weight(n, "weight")
      : ctx.b.constant(new Array(width).fill(1), [width]);
    const inputs = [xin.name, scale, ...(n.attrs.affine ? [ctx.weight(n, "bias")] : [])];
    return {
      name: ctx.b.op("LayerNormalization", inputs, n.name, { axis: -1, epsilon: n.attrs.eps }),
      layout: xin.layout,
    };
  },
} satisfies { [K in NormOp]: TensorLowering<K> };

/** The training step's forms, where they differ from the inference ones. */
export const NORM_TRAINING_TENSOR = {
  "group-norm": groupNormTraining,
} satisfies { [K in NormOp]?: TensorLowering<K> };
