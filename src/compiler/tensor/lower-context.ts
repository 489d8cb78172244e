// The state of one lowering into the tensor tier: the graph, the target opset, parameter access with
// layout conversion, and layout tracking. The IR is channels-last; ONNX convolutions want
// NCHW. Each rank-4 value remembers its layout and is transposed only when an op needs the
// other one, so a ResBlock pays two transposes rather than one per op.
import type { Node, NodeOf, OpKind } from "../ir/types.ts";
import { paramLayout } from "../ops/index.ts";
import { FORM_PERMS, formDims, PARAM_LAYOUTS, permute, type WeightForm } from "../ops/param-layout.ts";
import type { TensorGraph } from "./graph.ts";

export type Layout = "NHWC" | "NCHW" | "flat";

export interface Val {
  name: string;
  layout: Layout;
}

export interface LowerOptions {
  opset: number;
  fp16: boolean;
}

export type WeightSource = (name: string) => Float32Array;

/** An IR op's decomposition into tensor-tier ops (each op family's tensor.ts writes its ops'). */
export type TensorLowering<K extends OpKind> = (node: NodeOf<K>, ins: Val[], ctx: LowerContext) => Val;

/** The first input of a lowering (every op but concat and the arithmetic reads one). */
export function firstVal(ins: readonly Val[]): Val {
  const v = ins[0];
  if (!v) throw new Error("missing input");
  return v;
}

/** A value with no spatial layout ([N, C] vectors and token lists). */
export const flat = (name: string): Val => ({ name, layout: "flat" });

// Layout helpers other modules take from here; PARAM_LAYOUTS (ops/param-layout.ts) owns them.
export { FORM_PERMS, formDims, inversePerm, permute, type WeightForm } from "../ops/param-layout.ts";

export class LowerContext {
  private readonly weightCache = new Map<string, string>();
  private readonly transposed = new Map<string, string>();

  constructor(
    readonly b: TensorGraph,
    readonly options: LowerOptions,
    private readonly weights: WeightSource,
    private readonly shapes: ReadonlyMap<string, readonly number[]>,
  ) {}

  /**
   * A float32 value for parameter `role` of `node` in `form` (made once per form); by default the
   * form ONNX operators read for the parameter's layout kind (OIHW for a Conv kernel).
   */
  weight(node: Node, role: string, form: WeightForm = PARAM_LAYOUTS[paramLayout(node, role)].onnx): string {
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
