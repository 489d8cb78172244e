// VJPs of elementwise ONNX ops. Binary ops broadcast, so each input gradient is summed back to
// that input's shape. Unary rules reuse the forward output where it is cheaper (σ, tanh, √).
import type { NodeProto } from "../../emit/onnx/proto.ts";
import { input, output } from "../onnx-attrs.ts";
import { gradOf, sumTo, type VjpContext, type VjpRule } from "../vjp.ts";

/** Sums each input's raw gradient (shaped like the output) down to that input's shape. */
function unbroadcast(node: NodeProto, raw: (string | undefined)[], ctx: VjpContext): (string | undefined)[] {
  const out = ctx.shapes.get(output(node));
  return raw.map((g, i) =>
    g === undefined ? undefined : sumTo(ctx, g, out, ctx.shapes.get(input(node, i)), `${output(node)}/d${i}`),
  );
}

const unary =
  (local: (node: NodeProto, g: string, ctx: VjpContext) => string): VjpRule =>
  (node, grads, needs, ctx) =>
    needs[0] ? [local(node, gradOf(grads), ctx)] : [];

const hint = (node: NodeProto) => `${output(node)}/grad`;

export const ELEMENTWISE_VJPS = {
  Identity: unary((_n, g) => g),
  Add: (node, grads, needs, ctx) => {
    const g = gradOf(grads);
    return unbroadcast(
      node,
      (node.input ?? []).map((_, i) => (needs[i] ? g : undefined)),
      ctx,
    );
  },
  Sub: (node, grads, needs, ctx) => {
    const g = gradOf(grads);
    const neg = needs[1] ? ctx.b.op("Neg", [g], `${hint(node)}/neg`) : undefined;
    return unbroadcast(node, [needs[0] ? g : undefined, neg], ctx);
  },
  Mul: (node, grads, needs, ctx) => {
    const g = gradOf(grads);
    const [a, b] = [input(node, 0), input(node, 1)];
    return unbroadcast(
      node,
      [
        needs[0] ? ctx.b.op("Mul", [g, b], `${hint(node)}/da`) : undefined,
        needs[1] ? ctx.b.op("Mul", [g, a], `${hint(node)}/db`) : undefined,
      ],
      ctx,
    );
  },
  // y = a / b: da = g / b, db = −g·y / b.
  Div: (node, grads, needs, ctx) => {
    const g = gradOf(grads);
    const b = input(node, 1);
    const gOverB = ctx.b.op("Div", [g, b], `${hint(node)}/da`);
    const db = needs[1]
      ? ctx.b.op("Neg", [ctx.b.op("Mul", [gOverB, output(node)], `${hint(node)}/gy`)], `${hint(node)}/db`)
      : undefined;
    return unbroadcast(node, [needs[0] ? gOverB : undefined, db], ctx);
  },
  Neg: unary((node, g, ctx) => ctx.b.op("Neg", [g], hint(node))),
  // y = √x: dx = g / (2y).
  Sqrt: unary((node, g, ctx) =>
    ctx.b.op(
      "Div",
      [ctx.b.op("Mul", [g, ctx.b.scalar(0.5)], `${hint(node)}/half`), output(node)],
      hint(node),
    ),
  ),
  // y = σ(x): dx = g·y·(1 − y).
  Sigmoid: unary((node, g, ctx) => {
    const y = output(node);
    const oneMinus = ctx.b.op("Sub", [ctx.b.scalar(1), y], `${hint(node)}/1my`);
    return ctx.b.op("Mul", [g, ctx.b.op("Mul", [y, oneMinus], `${hint(node)}/dy`)], hint(node));
  }),
  // y = tanh(x): dx = g·(1 − y²).
  Tanh: unary((node, g, ctx) => {
    const y = output(node);
    const sq = ctx.b.op("Mul", [y, y], `${hint(node)}/y2`);
    return ctx.b.op("Mul", [g, ctx.b.op("Sub", [ctx.b.scalar(1), sq], `${hint(node)}/1my2`)], hint(node));
  }),
  Exp: unary((node, g, ctx) => ctx.b.op("Mul", [g, output(node)], hint(node))),
  Log: unary((node, g, ctx) => ctx.b.op("Div", [g, input(node, 0)], hint(node))),
  Sin: unary((node, g, ctx) =>
    ctx.b.op("Mul", [g, ctx.b.op("Cos", [input(node, 0)], `${hint(node)}/cos`)], hint(node)),
  ),
  Cos: unary((node, g, ctx) =>
    ctx.b.op(
      "Neg",
      [ctx.b.op("Mul", [g, ctx.b.op("Sin", [input(node, 0)], `${hint(node)}/sin`)], `${hint(node)}/gs`)],
      hint(node),
    ),
  ),
} satisfies Record<string, VjpRule>;
