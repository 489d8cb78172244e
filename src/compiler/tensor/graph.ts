// A tensor-tier graph under construction: nodes in topological order, every value's static
// shape inferred as its node is built (an op that does not fit its inputs fails here, naming
// the node), graph inputs, weights and small deduplicated constants.
import { type Dims, inferShapes, type TensorNode, type TensorOpAttrs, type TensorOpKind } from "./ops.ts";

/** ONNX TensorProto data types of stored tensors. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, FLOAT16: 10 } as const;

export interface Initializer {
  name: string;
  dims: number[];
  dataType: number;
  /** Little-endian bytes. */
  bytes: Uint8Array;
}

function float16Bits(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0] ?? 0;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = x & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00 | (((x >>> 23) & 0xff) === 0xff && mant ? 0x200 : 0);
  if (exp <= 0) {
    if (exp < -10) return sign;
    const m = (mant | 0x800000) >>> (1 - exp);
    return sign | ((m + 0x1000) >>> 13);
  }
  const half = sign | (exp << 10) | (mant >>> 13);
  return mant & 0x1000 ? half + 1 : half; // round to nearest
}

export function toFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float16Bits(values[i] ?? 0);
  return out;
}

/** Attributes are optional in `op` exactly when every attribute of the op is. */
type AttrArg<K extends TensorOpKind> =
  Record<string, never> extends TensorOpAttrs[K] ? [attrs?: TensorOpAttrs[K]] : [attrs: TensorOpAttrs[K]];

export class TensorGraph {
  readonly nodes: TensorNode[] = [];
  readonly initializers: Initializer[] = [];
  private readonly shapes = new Map<string, Dims>();
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, string>();
  /** Values of the constants (shapes, axes, scales, ...), for shape rules and VJP rules. */
  private readonly constantValues = new Map<string, number[]>();
  private readonly floatConstants = new Set<string>();

  /** A fresh value name derived from `hint`. */
  fresh(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_./:-]/g, "_");
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  reserve(name: string): string {
    if (this.used.has(name)) throw new Error(`value name ${name} is used twice`);
    this.used.add(name);
    return name;
  }

  /** Declares a graph input (or any value defined outside the nodes) with its static shape. */
  input(name: string, dims: Dims): string {
    this.reserve(name);
    this.shapes.set(name, [...dims]);
    return name;
  }

  /** A value's static shape. */
  dims(name: string): Dims {
    const s = this.shapes.get(name);
    if (!s) throw new Error(`no shape for value ${name}`);
    return s;
  }

  /** The values of a small constant. */
  valuesOf(name: string): number[] {
    const v = this.constantValues.get(name);
    if (!v) throw new Error(`${name} is not a constant`);
    return v;
  }

  isConstant(name: string): boolean {
    return this.constantValues.has(name);
  }

  /** Adds a node and returns its (first) output name. */
  op<K extends TensorOpKind>(op: K, inputs: readonly string[], hint: string, ...attrs: AttrArg<K>): string {
    return this.opN(op, inputs, hint, 1, ...attrs)[0] ?? "";
  }

  opN<K extends TensorOpKind>(
    op: K,
    inputs: readonly string[],
    hint: string,
    outputs: number,
    ...attrs: AttrArg<K>
  ): string[] {
    const a = (attrs[0] ?? {}) as TensorOpAttrs[K];
    const name = this.fresh(`${hint}/${op}`);
    const inferred = this.infer(op, a, inputs, name);
    const outs = Array.from({ length: outputs }, (_, i) => this.fresh(outputs === 1 ? hint : `${hint}_${i}`));
    outs.forEach((o, i) => {
      const d = inferred[i];
      if (!d) throw new Error(`${op} ${name} has no output ${i}`);
      this.shapes.set(o, d);
    });
    this.nodes.push({ op, inputs: [...inputs], outputs: outs, attrs: a, name } as TensorNode);
    return outs;
  }

  /** Output shapes of an `op` node on `inputs`; a mismatch names the node. */
  private infer<K extends TensorOpKind>(
    op: K,
    attrs: TensorOpAttrs[K],
    inputs: readonly string[],
    name: string,
  ): Dims[] {
    try {
      return inferShapes(op, attrs, {
        count: inputs.length,
        has: (i) => (inputs[i] ?? "") !== "",
        dims: (i) => this.dims(inputs[i] ?? ""),
        constant: (i) => this.valuesOf(inputs[i] ?? ""),
      });
    } catch (e) {
      throw new Error(`${op} ${name}: ${(e as Error).message}`);
    }
  }

  /**
   * Makes `value` available under the fixed name `name` (a graph output) with an Identity node,
   * which the ONNX renderer folds away where it can (render.ts: foldAliases).
   */
  alias(value: string, name: string): string {
    this.reserve(name);
    this.shapes.set(name, this.dims(value));
    this.nodes.push({ op: "Identity", inputs: [value], outputs: [name], attrs: {}, name: `${name}/out` });
    this.aliases.add(name);
    return name;
  }

  /** Names made by alias. */
  readonly aliases = new Set<string>();

  /** Gives `node` its optional outputs up to `count` (LayerNormalization's statistics). */
  extendOutputs(node: TensorNode, count: number): string[] {
    if (node.outputs.length >= count) return node.outputs;
    const inferred = this.infer(node.op, node.attrs as never, node.inputs, node.name);
    for (let i = node.outputs.length; i < count; i++) {
      const o = this.fresh(`${node.outputs[0]}_${i}`);
      this.shapes.set(o, inferred[i] ?? []);
      node.outputs.push(o);
    }
    return node.outputs;
  }

  /** A stored float tensor (a weight), optionally kept as float16. */
  initializer(name: string, values: Float32Array, dims: Dims, fp16 = false): string {
    const data = fp16 ? toFloat16(values) : values;
    this.initializers.push({
      name: this.reserve(name),
      dims: [...dims],
      dataType: fp16 ? DataType.FLOAT16 : DataType.FLOAT,
      bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    this.shapes.set(name, [...dims]);
    return name;
  }

  /** A deduplicated float32 or int64 constant tensor. */
  constant(values: readonly number[], dims: Dims, type: "float" | "int64" = "float"): string {
    const key = `${type}:${dims.join(",")}:${values.join(",")}`;
    const known = this.constants.get(key);
    if (known) return known;
    const name = this.fresh(type === "float" ? "const_f" : "const_i");
    const bytes =
      type === "float"
        ? new Uint8Array(Float32Array.from(values).buffer)
        : new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(v))).buffer);
    this.initializers.push({
      name,
      dims: [...dims],
      dataType: type === "float" ? DataType.FLOAT : DataType.INT64,
      bytes,
    });
    this.constants.set(key, name);
    this.constantValues.set(name, [...values]);
    if (type === "float") this.floatConstants.add(name);
    this.shapes.set(name, [...dims]);
    return name;
  }

  scalar(v: number): string {
    return this.constant([v], []);
  }

  ints(values: readonly number[]): string {
    return this.constant(values, [values.length], "int64");
  }

  /** Whether `name` is a float constant of ones (a LayerNormalization scale that scales nothing). */
  isConstantOnes(name: string): boolean {
    const v = this.constantValues.get(name);
    return !!v && this.floatConstants.has(name) && v.every((x) => x === 1);
  }
}
