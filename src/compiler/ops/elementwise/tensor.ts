// Activations and broadcasting arithmetic in the tensor tier. GELU-tanh uses Gelu(approximate =
// "tanh") from opset 20 and its formula before.
import { firstVal, type LowerContext, type TensorLowering, type Val } from "../../tensor/lower-context.ts";
import type { ElementwiseOp } from "./def.ts";

/** ½x(1 + tanh(√(2/π)(x + 0.044715x³))). */
function geluTanh(ctx: LowerContext, x: string, hint: string): string {
  const b = ctx.b;
  if (ctx.options.opset >= 20) return b.op("Gelu", [x], hint, { approximate: "tanh" });
  const cube = b.op("Mul", [x, b.op("Mul", [x, x], `${hint}/x2`)], `${hint}/x3`);
  const inner = b.op(
    "Mul",
    [
      b.op("Add", [x, b.op("Mul", [cube, b.scalar(0.044715)], `${hint}/c`)], `${hint}/s`),
      b.scalar(Math.sqrt(2 / Math.PI)),
    ],
    `${hint}/u`,
  );
  const t = b.op("Tanh", [inner], `${hint}/tanh`);
  return b.op(
    "Mul",
    [b.op("Mul", [x, b.scalar(0.5)], `${hint}/half`), b.op("Add", [t, b.scalar(1)], `${hint}/1p`)],
    hint,
  );
}

/** Broadcasting binary op: rank-4 operands are brought to the layout of the first rank-4 one. */
function binary(ctx: LowerContext, type: "Add" | "Mul", ins: Val[], hint: string): Val {
  const target = ins.find((v) => v.layout !== "flat")?.layout;
  const names = ins.map((v) => (target && target !== "flat" ? ctx.as(v, target).name : v.name));
  let acc = names[0] ?? "";
  for (const n of names.slice(1)) acc = ctx.b.op(type, [acc, n], hint);
  return { name: acc, layout: target ?? "flat" };
}

export const ELEMENTWISE_TENSOR = {
  "gelu-tanh": (n, ins, ctx) => ({
    name: geluTanh(ctx, firstVal(ins).name, n.name),
    layout: firstVal(ins).layout,
  }),
  silu: (n, ins, ctx) => {
    const x = firstVal(ins);
    return {
      name: ctx.b.op("Mul", [x.name, ctx.b.op("Sigmoid", [x.name], `${n.name}/sigmoid`)], n.name),
      layout: x.layout,
    };
  },
  add: (n, ins, ctx) => binary(ctx, "Add", ins, n.name),
  mul: (n, ins, ctx) => binary(ctx, "Mul", ins, n.name),
  modulate: (n, ins, ctx) => {
    const [x, shift, scale] = ins;
    if (!x || !shift || !scale) throw new Error("modulate needs x, shift and scale");
    const onePlus = {
      name: ctx.b.op("Add", [scale.name, ctx.b.scalar(1)], `${n.name}/1p`),
      layout: scale.layout,
    };
    return binary(ctx, "Add", [binary(ctx, "Mul", [x, onePlus], `${n.name}/scaled`), shift], n.name);
  },
  // The inference graph; the training step multiplies by a mask it is given (training/forward.ts).
  dropout: (_n, ins) => firstVal(ins),
} satisfies { [K in ElementwiseOp]: TensorLowering<K> };
