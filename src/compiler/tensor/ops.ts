// The tensor tier of the IR: the primitive ops every model op (src/compiler/ops) lowers to, and
// the unit of differentiation (src/compiler/autodiff: one VJP rule per op, written in these
// same ops). Their semantics are the ONNX operators of the same name, so the ONNX renderer is a
// one-to-one translation and an op's specification is the ONNX operator's; what the tier adds
// is typed attributes, static shapes inferred when a node is built, and renderers for more than
// one target (render-onnx.ts, run-tfjs.ts). Shape-like operands (Reshape's shape, Slice's
// bounds, reduction axes, pads, scales) are constant inputs, as in ONNX.

export type Dims = readonly number[];

type None = Record<string, never>;
type ConvAttrs = {
  kernel_shape?: number[];
  strides?: number[];
  pads?: number[];
  dilations?: number[];
  group?: number;
};

/** Attributes of every tensor op; the op name is the discriminant of TensorNode. */
export interface TensorOpAttrs {
  Identity: None;
  Neg: None;
  Sqrt: None;
  Exp: None;
  Log: None;
  Sin: None;
  Cos: None;
  Tanh: None;
  Sigmoid: None;
  Gelu: { approximate: "tanh" };
  Softmax: { axis: number };
  /** ONNX TensorProto data type: 1 float, 6 int32, 7 int64, 9 bool. */
  Cast: { to: 1 | 6 | 7 | 9 };
  Add: None;
  Sub: None;
  Mul: None;
  Div: None;
  Max: None;
  Sum: None;
  Greater: None;
  Less: None;
  GreaterOrEqual: None;
  Where: None;
  MatMul: None;
  Gemm: { transA?: 0 | 1; transB?: 0 | 1 };
  Conv: ConvAttrs;
  ConvTranspose: ConvAttrs & { output_padding?: number[] };
  AveragePool: { kernel_shape: number[]; strides?: number[]; pads?: number[] };
  /** Inputs x, roi (""), scales. */
  Resize:
    | { mode: "nearest"; coordinate_transformation_mode: "asymmetric"; nearest_mode: "floor" }
    | { mode: "linear"; coordinate_transformation_mode: "half_pixel" };
  /** Inputs x, shape. */
  Reshape: None;
  /** Inputs x, axes. */
  Unsqueeze: None;
  /** Inputs x, shape. */
  Expand: None;
  Transpose: { perm: number[] };
  Concat: { axis: number };
  /** Inputs x, split (the sizes along axis); one output per size. */
  Split: { axis: number };
  /** Inputs x, starts, ends, axes, steps (optional). */
  Slice: None;
  /** Inputs data, indices. */
  Gather: { axis: number };
  /** Inputs x, pads (zeros). */
  Pad: None;
  /** Inputs x, axes (ONNX opset ≥ 18 form; the renderer writes an attribute for older opsets). */
  ReduceMean: { keepdims: 0 | 1 };
  ReduceSum: { keepdims: 0 | 1 };
  /** Over every axis when it has no axes input. */
  ReduceSumSquare: { keepdims: 0 | 1 };
  /** Outputs y and, optionally, the mean and inverse standard deviation over the axes from `axis` on. */
  LayerNormalization: { axis: number; epsilon: number };
  /** Inputs indices (int64), depth, values. */
  OneHot: { axis: number };
}

export type TensorOpKind = keyof TensorOpAttrs;

export interface TensorNodeOf<K extends TensorOpKind> {
  op: K;
  /** Value names; "" marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attrs: TensorOpAttrs[K];
  name: string;
}

export type TensorNode = { [K in TensorOpKind]: TensorNodeOf<K> }[TensorOpKind];

/** What a shape rule may read: input shapes and the values of constant inputs. */
export interface ShapeQuery {
  dims(i: number): Dims;
  has(i: number): boolean;
  /** The values of constant input `i` (throws if it is not a constant). */
  constant(i: number): number[];
  count: number;
}

type ShapeRule<K extends TensorOpKind> = (attrs: TensorOpAttrs[K], q: ShapeQuery) => Dims[];

const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

export function broadcastDims(a: Dims, b: Dims): Dims {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`cannot broadcast [${a}] with [${b}]`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

const same: ShapeRule<TensorOpKind> = (_a, q) => [q.dims(0)];
const broadcast: ShapeRule<TensorOpKind> = (_a, q) => [
  Array.from({ length: q.count }, (_, i) => q.dims(i)).reduce(broadcastDims),
];

function reduced(keepdims: number, q: ShapeQuery): Dims[] {
  const s = q.dims(0);
  const axes = (q.has(1) ? q.constant(1) : s.map((_, i) => i)).map((a) => norm(a, s.length));
  return [keepdims ? s.map((d, i) => (axes.includes(i) ? 1 : d)) : s.filter((_, i) => !axes.includes(i))];
}

/** Output dims of Conv / ConvTranspose / AveragePool on NCHW inputs. */
function spatial(
  op: "Conv" | "ConvTranspose" | "AveragePool",
  a: ConvAttrs,
  q: ShapeQuery,
  outPad?: number[],
) {
  const [n = 1, c = 1, ...hw] = q.dims(0);
  const w = op === "AveragePool" ? undefined : q.dims(1);
  const kernel = a.kernel_shape ?? w?.slice(2) ?? [];
  const sizes = hw.map((d, i) => {
    const k = ((kernel[i] ?? 1) - 1) * (a.dilations?.[i] ?? 1) + 1;
    const s = a.strides?.[i] ?? 1;
    const p = (a.pads?.[i] ?? 0) + (a.pads?.[i + hw.length] ?? 0);
    return op === "ConvTranspose"
      ? (d - 1) * s - p + k + (outPad?.[i] ?? 0)
      : Math.floor((d + p - k) / s) + 1;
  });
  const channels = op === "Conv" ? w?.[0] : op === "ConvTranspose" ? w?.[1] : c;
  return [[n, channels ?? c, ...sizes]];
}

/** Output shapes of each op, from its attributes and inputs. */
export const SHAPE_RULES = {
  Identity: same,
  Neg: same,
  Sqrt: same,
  Exp: same,
  Log: same,
  Sin: same,
  Cos: same,
  Tanh: same,
  Sigmoid: same,
  Gelu: same,
  Softmax: same,
  Cast: same,
  Add: broadcast,
  Sub: broadcast,
  Mul: broadcast,
  Div: broadcast,
  Max: broadcast,
  Sum: broadcast,
  Greater: broadcast,
  Less: broadcast,
  GreaterOrEqual: broadcast,
  Where: broadcast,
  MatMul: (_a, q) => {
    const [a, b] = [q.dims(0), q.dims(1)];
    const batch = broadcastDims(a.slice(0, -2), b.slice(0, -2));
    if (a[a.length - 1] !== b[b.length - 2]) throw new Error(`MatMul of [${a}] by [${b}]`);
    return [[...batch, a[a.length - 2] ?? 1, b[b.length - 1] ?? 1]];
  },
  Gemm: (a, q) => {
    const [x, y] = [q.dims(0), q.dims(1)];
    const k1 = a.transA ? x[0] : x[1];
    const k2 = a.transB ? y[1] : y[0];
    if (k1 !== k2) throw new Error(`Gemm of [${x}] by [${y}]`);
    return [[(a.transA ? x[1] : x[0]) ?? 1, (a.transB ? y[0] : y[1]) ?? 1]];
  },
  Conv: (a, q) => spatial("Conv", a, q),
  ConvTranspose: (a, q) => spatial("ConvTranspose", a, q, a.output_padding),
  AveragePool: (a, q) => spatial("AveragePool", a, q),
  Resize: (_a, q) => {
    const scales = q.constant(2);
    return [q.dims(0).map((d, i) => Math.floor(d * (scales[i] ?? 1)))];
  },
  Reshape: (_a, q) => {
    const s = q.dims(0);
    const total = s.reduce((a, b) => a * b, 1);
    const spec = q.constant(1).map((d, i) => (d === 0 ? (s[i] ?? 1) : d));
    const known = spec.reduce((a, d) => (d === -1 ? a : a * d), 1);
    const out = spec.map((d) => (d === -1 ? total / known : d));
    if (out.reduce((a, b) => a * b, 1) !== total || !out.every(Number.isInteger))
      throw new Error(`cannot reshape [${s}] to [${spec}]`);
    return [out];
  },
  Unsqueeze: (_a, q) => {
    const s = [...q.dims(0)];
    const axes = q.constant(1).map((a) => norm(a, s.length + 1));
    for (const a of [...axes].sort((p, r) => p - r)) s.splice(a, 0, 1);
    return [s];
  },
  Expand: (_a, q) => [broadcastDims(q.dims(0), q.constant(1))],
  Transpose: (a, q) => {
    const s = q.dims(0);
    if (a.perm.length !== s.length) throw new Error(`perm [${a.perm}] for a rank-${s.length} tensor`);
    return [a.perm.map((p) => s[p] ?? 1)];
  },
  Concat: (a, q) => {
    const ins = Array.from({ length: q.count }, (_, i) => q.dims(i));
    const first = ins[0] ?? [];
    const axis = norm(a.axis, first.length);
    return [first.map((d, i) => (i === axis ? ins.reduce((acc, s) => acc + (s[i] ?? 0), 0) : d))];
  },
  Split: (a, q) => {
    const s = q.dims(0);
    const axis = norm(a.axis, s.length);
    const sizes = q.constant(1);
    if (sizes.reduce((x, y) => x + y, 0) !== s[axis]) throw new Error(`split sizes [${sizes}] for [${s}]`);
    return sizes.map((n) => s.map((d, i) => (i === axis ? n : d)));
  },
  Slice: (_a, q) => {
    const s = [...q.dims(0)];
    const starts = q.constant(1);
    const ends = q.constant(2);
    const axes = q.has(3) ? q.constant(3) : starts.map((_, i) => i);
    const steps = q.has(4) ? q.constant(4) : starts.map(() => 1);
    axes.forEach((a0, i) => {
      const a = norm(a0, s.length);
      const d = s[a] ?? 1;
      const clamp = (v: number) => Math.max(0, Math.min(d, v < 0 ? v + d : v));
      s[a] = Math.ceil((clamp(ends[i] ?? d) - clamp(starts[i] ?? 0)) / (steps[i] ?? 1));
    });
    return [s];
  },
  Gather: (a, q) => {
    const s = q.dims(0);
    const axis = norm(a.axis, s.length);
    return [[...s.slice(0, axis), ...q.dims(1), ...s.slice(axis + 1)]];
  },
  Pad: (_a, q) => {
    const s = q.dims(0);
    const pads = q.constant(1);
    return [s.map((d, i) => d + (pads[i] ?? 0) + (pads[i + s.length] ?? 0))];
  },
  ReduceMean: (a, q) => reduced(a.keepdims, q),
  ReduceSum: (a, q) => reduced(a.keepdims, q),
  ReduceSumSquare: (a, q) => reduced(a.keepdims, q),
  LayerNormalization: (a, q) => {
    const s = q.dims(0);
    const axis = norm(a.axis, s.length);
    const stats = s.map((d, i) => (i < axis ? d : 1));
    return [s, stats, stats];
  },
  OneHot: (_a, q) => [[...q.dims(0), q.constant(1)[0] ?? 0]],
} satisfies { [K in TensorOpKind]: ShapeRule<K> };

export function inferShapes<K extends TensorOpKind>(op: K, attrs: TensorOpAttrs[K], q: ShapeQuery): Dims[] {
  return (SHAPE_RULES[op] as ShapeRule<K>)(attrs, q);
}
