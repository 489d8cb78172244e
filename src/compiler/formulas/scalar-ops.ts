// The arithmetic the diffusion and optimizer formulas (./edm.ts, ./ddpm.ts, ./adam.ts, ...) are
// written in, so each formula is written once and every engine evaluates that one text: plain
// numbers (float64, here), tfjs tensors (src/runtime/tfjs-scalar-ops.ts), the tensor-tier graph
// that becomes ONNX (here), and a later PyTorch target whose T is Python expression text.
// Elementwise, broadcasting as NumPy and ONNX do. An operand may be a plain number (a constant
// known when the formula is built), so a formula reads like its equation and a factor that is
// exactly 1 (c_skip of VE, say) costs the graph no node.
//
// Engines keep their own rounding: a formula fixes the order and association of its operations,
// and a number computed from constants is computed in float64 before it becomes an operand.
import type { TensorGraph } from "../tensor/graph.ts";

/** A value of the implementation, or a constant. */
export type Operand<T> = T | number;

export interface ScalarOps<T> {
  constant(v: number): T;
  add(a: Operand<T>, b: Operand<T>): T;
  sub(a: Operand<T>, b: Operand<T>): T;
  mul(a: Operand<T>, b: Operand<T>): T;
  div(a: Operand<T>, b: Operand<T>): T;
  /** a^b; the graph computes it as exp(b·ln a), so there for a > 0 only. */
  pow(a: Operand<T>, b: Operand<T>): T;
  max(a: Operand<T>, b: Operand<T>): T;
  neg(a: Operand<T>): T;
  sqrt(a: Operand<T>): T;
  exp(a: Operand<T>): T;
  log(a: Operand<T>): T;
  cos(a: Operand<T>): T;
  tanh(a: Operand<T>): T;
  /** a·a */
  square(a: Operand<T>): T;
  /** a³ (tfjs: its pow kernel, as the tfjs code always did; the graph: (a·a)·a). */
  cube(a: Operand<T>): T;
  /** Comparisons give the implementation's condition values, for `where`. */
  greater(a: Operand<T>, b: Operand<T>): T;
  less(a: Operand<T>, b: Operand<T>): T;
  where(cond: T, a: Operand<T>, b: Operand<T>): T;
}

/** min(a, b) as the formulas need it (no Min op in the tensor tier): b where a is not below it. */
export const minimum = <T>(ops: ScalarOps<T>, a: Operand<T>, b: Operand<T>): T =>
  ops.where(ops.less(a, b), a, b);

/** float64 arithmetic on plain numbers; comparisons give 1 or 0. */
export const numberOps: ScalarOps<number> = {
  constant: (v) => v,
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => a ** b,
  max: (a, b) => Math.max(a, b),
  neg: (a) => -a,
  sqrt: Math.sqrt,
  exp: Math.exp,
  log: Math.log,
  cos: Math.cos,
  tanh: Math.tanh,
  square: (a) => a * a,
  cube: (a) => a ** 3,
  greater: (a, b) => (a > b ? 1 : 0),
  less: (a, b) => (a < b ? 1 : 0),
  where: (c, a, b) => (c !== 0 ? a : b),
};

/**
 * Nodes of a tensor-tier graph (ONNX semantics), values named after `hint`. Constants are
 * deduplicated float32 scalars; a product with the constant 1 is its other factor.
 */
export function graphOps(b: TensorGraph, hint: string): ScalarOps<string> {
  const v = (a: Operand<string>) => (typeof a === "number" ? b.scalar(a) : a);
  const unary =
    (op: "Neg" | "Sqrt" | "Exp" | "Log" | "Cos" | "Tanh") =>
    (a: Operand<string>): string =>
      b.op(op, [v(a)], hint);
  const binary =
    (op: "Add" | "Sub" | "Mul" | "Div" | "Max" | "Greater" | "Less") =>
    (x: Operand<string>, y: Operand<string>): string =>
      b.op(op, [v(x), v(y)], hint);
  const mul = (x: Operand<string>, y: Operand<string>): string => {
    if (y === 1) return v(x);
    if (x === 1) return v(y);
    return b.op("Mul", [v(x), v(y)], hint);
  };
  const square = (a: Operand<string>) => mul(a, a);
  return {
    constant: (c) => b.scalar(c),
    add: binary("Add"),
    sub: binary("Sub"),
    mul,
    div: binary("Div"),
    pow: (x, y) => b.op("Exp", [mul(y, b.op("Log", [v(x)], hint))], hint),
    max: binary("Max"),
    neg: unary("Neg"),
    sqrt: unary("Sqrt"),
    exp: unary("Exp"),
    log: unary("Log"),
    cos: unary("Cos"),
    tanh: unary("Tanh"),
    square,
    cube: (a) => mul(square(a), a),
    greater: binary("Greater"),
    less: binary("Less"),
    where: (c, x, y) => b.op("Where", [c, v(x), v(y)], hint),
  };
}
