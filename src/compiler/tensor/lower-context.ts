// The state of one lowering into the tensor tier: the graph, the target opset, parameter access with
// layout conversion, and layout tracking. The IR is channels-last; ONNX convolutions want
// NCHW. Each rank-4 value remembers its layout and is transposed only when an op needs the
// other one, so a ResBlock pays two transposes rather than one per op.
import type { NodeOf, OpKind } from "../ir/types.ts";
import type { TensorGraph } from "./graph.ts";

export type Layout = "NHWC" | "NCHW" | "flat";

export interface Val {
  name: string;
  layout: Layout;
}

/** How a parameter is laid out in the ONNX file. */
export type WeightForm =
  | "as-is"
  /** conv [kh, kw, in, out] → Conv's [out, in, kh, kw] */
  | "oihw"
  /** conv-transpose [kh, kw, in, out] → ConvTranspose's [in, out, kh, kw] */
  | "iohw"
  /** per-channel [C] → [C, 1, 1] to broadcast over NCHW */
  | "c11";

export interface LowerOptions {
  opset: number;
  fp16: boolean;
}

export type WeightSource = (name: string) => Float32Array;

/** The axis permutation of each transposed weight form. */
export const FORM_PERMS: Partial<Record<WeightForm, number[]>> = { oihw: [3, 2, 0, 1], iohw: [2, 3, 0, 1] };

/** A parameter's dims in `form`. */
export function formDims(shape: readonly number[], form: WeightForm): number[] {
  const perm = FORM_PERMS[form];
  if (perm) return perm.map((p) => shape[p] ?? 1);
  return form === "c11" ? [shape[0] ?? 1, 1, 1] : [...shape];
}

/** The permutation that undoes `perm`. */
export const inversePerm = (perm: readonly number[]) => perm.map((_, i) => perm.indexOf(i));

/** `src` (row-major, dims `shape`) with its axes permuted: out dims[i] = shape[perm[i]]. */
export function permute(src: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p] ?? 1);
  const strides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) strides[i] = (strides[i + 1] ?? 1) * (shape[i + 1] ?? 1);
  const out = new Float32Array(src.length);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let s = 0;
    for (let k = 0; k < rank; k++) s += (idx[k] ?? 0) * (strides[perm[k] ?? 0] ?? 0);
    out[o] = src[s] ?? 0;
    for (let k = rank - 1; k >= 0; k--) {
      idx[k] = (idx[k] ?? 0) + 1;
      if ((idx[k] ?? 0) < (outShape[k] ?? 1)) break;
      idx[k] = 0;
    }
  }
  return out;
}

export class LowerContext {
  private readonly weightCache = new Map<string, string>();
  private readonly transposed = new Map<string, string>();

  constructor(
    readonly b: TensorGraph,
    readonly options: LowerOptions,
    private readonly weights: WeightSource,
    private readonly shapes: ReadonlyMap<string, readonly number[]>,
  ) {}

  /** A float32 value for parameter `role` of `node`, in the requested layout (made once per form). */
  weight<K extends OpKind>(node: NodeOf<K>, role: string, form: WeightForm = "as-is"): string {
    const param = node.params[role];
    if (!param) throw new Error(`${node.name} has no parameter ${role}`);
    const key = `${param}|${form}`;
    const known = this.weightCache.get(key);
    if (known) return known;
    const shape = this.shapes.get(param);
    if (!shape) throw new Error(`no shape for ${param}`);
    const name = this.materialize(param, shape, form);
    this.weightCache.set(key, name);
    return name;
  }

  /** Parameter `param` in `form`: here a stored initializer (the layout change baked in). */
  protected materialize(param: string, shape: readonly number[], form: WeightForm): string {
    const perm = FORM_PERMS[form];
    const values = perm ? permute(this.weights(param), shape, perm) : this.weights(param);
    const stored = this.b.initializer(
      form === "as-is" ? param : `${param}:${form}`,
      values,
      formDims(shape, form),
      this.options.fp16,
    );
    // fp16 files keep every computation in float32: weights are cast once where they enter.
    return this.options.fp16 ? this.b.op("Cast", [stored], `${param}/f32`, { to: 1 }) : stored;
  }

  /** `v` in `layout` (rank-4 values only; flat values pass through). */
  as(v: Val, layout: "NHWC" | "NCHW"): Val {
    if (v.layout === "flat" || v.layout === layout) return v;
    const key = `${v.name}|${layout}`;
    const known = this.transposed.get(key);
    if (known) return { name: known, layout };
    const perm = layout === "NCHW" ? [0, 3, 1, 2] : [0, 2, 3, 1];
    const name = this.b.op("Transpose", [v.name], `${v.name}/${layout}`, { perm });
    this.transposed.set(key, name);
    return { name, layout };
  }

  /** ReduceMean over `axes`, keeping dims (the renderer moves the axes for opsets before 18). */
  reduceMean(x: string, axes: number[], hint: string): string {
    return this.b.op("ReduceMean", [x, this.b.ints(axes)], hint, { keepdims: 1 });
  }
}
