// VJPs of the elementwise tensor ops. Binary ops broadcast, so each input gradient is summed back to
// that input's shape. Unary rules reuse the forward output where it is cheaper (σ, tanh, √).
import type { TensorNode } from "../../tensor/ops.ts";
import { arg, gradOf, gradHint as hint, noGradient, out, sumTo, type VjpContext } from "../vjp.ts";
import type { VjpRules } from "./table.ts";

/** Sums each input's raw gradient (shaped like the output) down to that input's shape. */
function unbroadcast(node: TensorNode, raw: (string | undefined)[], ctx: VjpContext): (string | undefined)[] {
  const dims = ctx.b.dims(out(node));
  return raw.map((g, i) =>
    g === undefined ? undefined : sumTo(ctx, g, dims, ctx.b.dims(arg(node, i)), `${out(node)}/d${i}`),
  );
}

const unary =
  (local: (node: TensorNode, g: string, ctx: VjpContext) => string) =>
  (node: TensorNode, grads: readonly (string | undefined)[], needs: readonly boolean[], ctx: VjpContext) =>
    needs[0] ? [local(node, gradOf(grads), ctx)] : [];

/** Sums (Add, Sum): every input gets g, summed back over its broadcast axes. */
function toEveryInput(
  node: TensorNode,
  grads: readonly (string | undefined)[],
  needs: readonly boolean[],
  ctx: VjpContext,
) {
  const g = gradOf(grads);
  return unbroadcast(
    node,
    node.inputs.map((_, i) => (needs[i] ? g : undefined)),
    ctx,
  );
}

export const ELEMENTWISE_VJPS = {
  Identity: unary((_n, g) => g),
  Add: toEveryInput,
  Sub: (node, grads, needs, ctx) => {
    const g = gradOf(grads);
    const neg = needs[1] ? ctx.b.op("Neg", [g], `${hint(node)}/neg`) : undefined;
    return unbroadcast(node, [needs[0] ? g : undefined, neg], ctx);
  },
  Mul: (node, grads, needs, ctx) => {
    const g = gradOf(grads);
    const [a, b] = [arg(node, 0), arg(node, 1)];
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
    const b = arg(node, 1);
    const gOverB = ctx.b.op("Div", [g, b], `${hint(node)}/da`);
    const db = needs[1]
      ? ctx.b.op("Neg", [ctx.b.op("Mul", [gOverB, out(node)], `${hint(node)}/gy`)], `${hint(node)}/db`)
      : undefined;
    return unbroadcast(node, [needs[0] ? gOverB : undefined, db], ctx);
  },
  // Σ of its inputs, like Add.
  Sum: toEveryInput,
  // Comparisons pass no gradient (their outputs are booleans).
  Greater: noGradient,
  Less: noGradient,
  GreaterOrEqual: noGradient,
  // Float to float passes g unchanged; casts to integers carry no gradient.
  Cast: (node, grads, needs) => (needs[0] && node.attrs.to === 1 ? [gradOf(grads)] : []),
  // Where(c, a, b): g flows to a where c holds and to b elsewhere.
  Where: (node, grads, needs, ctx) => {
    const g = gradOf(grads);
    const cond = arg(node, 0);
    const zero = ctx.b.scalar(0);
    const h = hint(node);
    return unbroadcast(
      node,
      [
        undefined,
        needs[1] ? ctx.b.op("Where", [cond, g, zero], `${h}/da`) : undefined,
        needs[2] ? ctx.b.op("Where", [cond, zero, g], `${h}/db`) : undefined,
      ],
      ctx,
    );
  },
  // Max(a, b) as tfjs differentiates maximum: a takes g where a ≥ b, b where a < b.
  Max: (node, grads, needs, ctx) => {
    if (node.inputs.length !== 2)
      throw new Error(`no VJP for a ${node.inputs.length}-input Max (${node.name})`);
    const g = gradOf(grads);
    const [a, b] = [arg(node, 0), arg(node, 1)];
    const zero = ctx.b.scalar(0);
    const h = hint(node);
    const aWins = ctx.b.op("GreaterOrEqual", [a, b], `${h}/a_wins`);
    return unbroadcast(
      node,
      [
        needs[0] ? ctx.b.op("Where", [aWins, g, zero], `${h}/da`) : undefined,
        needs[1] ? ctx.b.op("Where", [aWins, zero, g], `${h}/db`) : undefined,
      ],
      ctx,
    );
  },
  Neg: unary((node, g, ctx) => ctx.b.op("Neg", [g], hint(node))),
  // y = √x: dx = g / (2y).
  Sqrt: unary((node, g, ctx) =>
    ctx.b.op("Div", [ctx.b.op("Mul", [g, ctx.b.scalar(0.5)], `${hint(node)}/half`), out(node)], hint(node)),
  ),
  // y = σ(x): dx = g·y·(1 − y).
  Sigmoid: unary((node, g, ctx) => {
    const y = out(node);
    const oneMinus = ctx.b.op("Sub", [ctx.b.scalar(1), y], `${hint(node)}/1my`);
    return ctx.b.op("Mul", [g, ctx.b.op("Mul", [y, oneMinus], `${hint(node)}/dy`)], hint(node));
  }),
  // y = tanh(x): dx = g·(1 − y²).
  Tanh: unary((node, g, ctx) => {
    const y = out(node);
    const sq = ctx.b.op("Mul", [y, y], `${hint(node)}/y2`);
    return ctx.b.op("Mul", [g, ctx.b.op("Sub", [ctx.b.scalar(1), sq], `${hint(node)}/1my2`)], hint(node));
  }),
  // Gelu(approximate = tanh): y = ½x(1 + tanh u) = x·σ(2u), u = c₁x + c₂x³ with c₁ = √(2/π),
  // c₂ = 0.044715·c₁; dy/dx = s·(1 + 2x·u′·(1 − s)) with s = σ(2u) recomputed and u′ = c₁ + 3c₂x².
  // The sigmoid form takes 13 elementwise ops where the tanh form took 15 (each a pass over the
  // MLP's widest activation).
  Gelu: unary((node, g, ctx) => {
    const b = ctx.b;
    const h = hint(node);
    const x = arg(node, 0);
    const c1 = Math.sqrt(2 / Math.PI);
    const c2 = 0.044715 * c1;
    const x2 = b.op("Mul", [x, x], `${h}/x2`);
    // a·x² + c, one Mul and one Add.
    const poly = (a: number, c: number, role: string) =>
      b.op("Add", [b.op("Mul", [x2, b.scalar(a)], `${h}/${role}_x2`), b.scalar(c)], `${h}/${role}`);
    const s = b.op("Sigmoid", [b.op("Mul", [x, poly(2 * c2, 2 * c1, "2u_x")], `${h}/2u`)], `${h}/s`);
    const k = b.op(
      "Mul",
      [b.op("Mul", [x, poly(6 * c2, 2 * c1, "2du")], `${h}/2xdu`), b.op("Sub", [b.scalar(1), s], `${h}/1ms`)],
      `${h}/k`,
    );
    const d = b.op("Mul", [s, b.op("Add", [k, b.scalar(1)], `${h}/1pk`)], `${h}/dydx`);
    return b.op("Mul", [g, d], h);
  }),
  Exp: unary((node, g, ctx) => ctx.b.op("Mul", [g, out(node)], hint(node))),
  Log: unary((node, g, ctx) => ctx.b.op("Div", [g, arg(node, 0)], hint(node))),
  Sin: unary((node, g, ctx) =>
    ctx.b.op("Mul", [g, ctx.b.op("Cos", [arg(node, 0)], `${hint(node)}/cos`)], hint(node)),
  ),
  Cos: unary((node, g, ctx) =>
    ctx.b.op(
      "Neg",
      [ctx.b.op("Mul", [g, ctx.b.op("Sin", [arg(node, 0)], `${hint(node)}/sin`)], `${hint(node)}/gs`)],
      hint(node),
    ),
  ),
} satisfies VjpRules;
