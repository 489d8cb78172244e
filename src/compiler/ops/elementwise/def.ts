// Activations, dropout and broadcasting arithmetic.
import type { Dim, Shape, TensorType } from "../../ir/types.ts";
import type { OpDef, PrimitiveName } from "../op-def.ts";
import { f32, noMacs, noParams } from "../op-def.ts";

export interface ElementwiseAttrs {
  "gelu-tanh": Record<string, never>;
  silu: Record<string, never>;
  /** Elementwise with numpy broadcasting. */
  add: Record<string, never>;
  mul: Record<string, never>;
  /** x · (1 + scale) + shift, inputs [x, shift, scale] (adaLN). */
  modulate: Record<string, never>;
  dropout: { rate: number };
}

export type ElementwiseOp = keyof ElementwiseAttrs;

/** Numpy broadcasting of two shapes, or undefined when they do not broadcast. */
function broadcast(a: Shape, b: Shape): Shape | undefined {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else return undefined;
  }
  return out;
}

function broadcastAll(inputs: readonly TensorType[], op: string): TensorType | string {
  const [first, ...rest] = inputs;
  if (!first) return `${op} needs inputs`;
  let shape: Shape = first.shape;
  for (const t of rest) {
    const next = broadcast(shape, t.shape);
    if (!next) return `${op}: [${shape.join(", ")}] and [${t.shape.join(", ")}] do not broadcast`;
    shape = next;
  }
  return f32(shape);
}

const unary = <K extends ElementwiseOp>(): OpDef<K> => ({
  infer: (_a, [x]) => x ?? "missing input",
  params: noParams,
  macs: noMacs,
});

export const ELEMENTWISE_DEFS = {
  "gelu-tanh": unary(),
  silu: unary(),
  dropout: unary(),
  add: { infer: (_a, ins) => broadcastAll(ins, "add"), params: noParams, macs: noMacs },
  mul: { infer: (_a, ins) => broadcastAll(ins, "mul"), params: noParams, macs: noMacs },
  modulate: {
    infer: (_a, ins) =>
      ins.length === 3 ? broadcastAll(ins, "modulate") : "modulate needs [x, shift, scale]",
    params: noParams,
    macs: noMacs,
  },
} satisfies { [K in ElementwiseOp]: OpDef<K> };

export const ELEMENTWISE_PRIMITIVES = {
  "gelu-tanh": { name: "geluTanh", plain: true },
  silu: { name: "silu", plain: true },
  add: { name: "add", plain: true },
  mul: { name: "mul", plain: true },
  /** x · (1 + scale) + shift, inputs [x, shift, scale]. */
  modulate: { name: "modulate", plain: true },
  /** Inference: returns its input. */
  dropout: { name: "dropout" },
} as const satisfies { [K in ElementwiseOp]: PrimitiveName };
