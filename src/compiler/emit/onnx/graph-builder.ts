// Builds an ONNX graph: nodes with generated unique names, initializers from typed arrays,
// small constants, and attributes from plain values.
import { type AttributeProto, AttributeType, DataType, type NodeProto, type TensorProto } from "./proto.ts";

export type AttrValue = number | string | number[] | { floats: number[] };

function attribute(name: string, v: AttrValue): AttributeProto {
  if (typeof v === "string") return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === "number") {
    return Number.isInteger(v)
      ? { name, type: AttributeType.INT, i: v }
      : { name, type: AttributeType.FLOAT, f: v };
  }
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
  return { name, type: AttributeType.FLOATS, floats: v.floats };
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

export interface Initializer {
  name: string;
  dims: number[];
  dataType: number;
  /** Little-endian bytes. */
  bytes: Uint8Array;
}

export class OnnxGraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: Initializer[] = [];
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, string>();

  /** A fresh value name derived from `hint`. */
  fresh(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_./-]/g, "_");
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  reserve(name: string): string {
    if (this.used.has(name)) throw new Error(`ONNX name ${name} is used twice`);
    this.used.add(name);
    return name;
  }

  /** Adds a node and returns its (first) output name. */
  op(
    type: string,
    inputs: readonly string[],
    hint: string,
    attrs: Record<string, AttrValue> = {},
    outputs = 1,
  ): string {
    return this.opN(type, inputs, hint, attrs, outputs)[0] ?? "";
  }

  opN(
    type: string,
    inputs: readonly string[],
    hint: string,
    attrs: Record<string, AttrValue> = {},
    outputs = 1,
  ): string[] {
    const outs = Array.from({ length: outputs }, (_, i) => this.fresh(outputs === 1 ? hint : `${hint}_${i}`));
    this.nodes.push({
      opType: type,
      input: [...inputs],
      output: outs,
      name: this.fresh(`${hint}/${type}`),
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  initializer(name: string, values: Float32Array, dims: readonly number[], fp16 = false): string {
    const data = fp16 ? toFloat16(values) : values;
    this.initializers.push({
      name: this.reserve(name),
      dims: [...dims],
      dataType: fp16 ? DataType.FLOAT16 : DataType.FLOAT,
      bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    return name;
  }

  /** A deduplicated float32 or int64 constant tensor. */
  constant(values: readonly number[], dims: readonly number[], type: "float" | "int64" = "float"): string {
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
    return name;
  }

  scalar(v: number): string {
    return this.constant([v], []);
  }

  ints(values: readonly number[]): string {
    return this.constant(values, [values.length], "int64");
  }

  tensorProto(i: Initializer, external?: { location: string; offset: number }): TensorProto {
    const base: TensorProto = { name: i.name, dims: i.dims, dataType: i.dataType };
    if (!external) return { ...base, rawData: i.bytes };
    return {
      ...base,
      dataLocation: 1, // EXTERNAL
      externalData: [
        { key: "location", value: external.location },
        { key: "offset", value: String(external.offset) },
        { key: "length", value: String(i.bytes.byteLength) },
      ],
    };
  }
}
