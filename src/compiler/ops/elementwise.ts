// Activations and broadcasting arithmetic.
import type { Dim, Shape, TensorType } from "../ir/types.ts";
import type { OpDef } from "./op-def.ts";
import { f32, noMacs, noParams } from "./op-def.ts";

/** Numpy broadcasting of two shapes, or undefined when they do not broadcast. */
export function broadcast(a: Shape, b: Shape): Shape | undefined {
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

const unary = <K extends "gelu-tanh" | "silu" | "dropout">(): OpDef<K> => ({
  infer: (_a, [x]) => x ?? "missing input",
  params: noParams,
  macs: noMacs,
});

export const geluTanh = unary<"gelu-tanh">();
export const silu = unary<"silu">();
export const dropout = unary<"dropout">();

export const add: OpDef<"add"> = {
  infer: (_a, ins) => broadcastAll(ins, "add"),
  params: noParams,
  macs: noMacs,
};
export const mul: OpDef<"mul"> = {
  infer: (_a, ins) => broadcastAll(ins, "mul"),
  params: noParams,
  macs: noMacs,
};
export const modulate: OpDef<"modulate"> = {
  infer: (_a, ins) => (ins.length === 3 ? broadcastAll(ins, "modulate") : "modulate needs [x, shift, scale]"),
  params: noParams,
  macs: noMacs,
};
