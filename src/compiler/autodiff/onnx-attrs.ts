// Reading attributes and constant inputs of the ONNX nodes the emitter builds; the shape table
// and the VJP rules both need them, and NodeProto keeps attributes as an untyped list.
import type { OnnxGraphBuilder } from "../emit/onnx/graph-builder.ts";
import { DataType, type NodeProto } from "../emit/onnx/proto.ts";

export function attrInt(node: NodeProto, name: string, fallback: number): number {
  const a = node.attribute?.find((x) => x.name === name);
  if (!a) return fallback;
  return Number(a.i ?? fallback);
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = node.attribute?.find((x) => x.name === name);
  return a?.ints ? a.ints.map(Number) : undefined;
}

export function attrFloat(node: NodeProto, name: string, fallback: number): number {
  const a = node.attribute?.find((x) => x.name === name);
  return a?.f ?? fallback;
}

export function attrString(node: NodeProto, name: string): string | undefined {
  const a = node.attribute?.find((x) => x.name === name);
  return a?.s ? new TextDecoder().decode(a.s) : undefined;
}

export function input(node: NodeProto, i: number): string {
  const v = node.input?.[i];
  if (v === undefined) throw new Error(`${node.opType} ${node.name} has no input ${i}`);
  return v;
}

export function output(node: NodeProto, i = 0): string {
  const v = node.output?.[i];
  if (v === undefined) throw new Error(`${node.opType} ${node.name} has no output ${i}`);
  return v;
}

/** The values of the builder's small constants (shapes, axes, pads, Resize scales), by name. */
export function smallConstants(b: OnnxGraphBuilder, limit = 64): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const init of b.initializers) {
    const copy = init.bytes.slice();
    if (init.dataType === DataType.INT64 && copy.byteLength <= 8 * limit)
      out.set(init.name, Array.from(new BigInt64Array(copy.buffer), Number));
    else if (init.dataType === DataType.FLOAT && copy.byteLength <= 4 * limit)
      out.set(init.name, Array.from(new Float32Array(copy.buffer)));
  }
  return out;
}

/** Whether `name` is a float constant of ones (a LayerNormalization scale that scales nothing). */
export function isConstantOnes(b: OnnxGraphBuilder, name: string): boolean {
  const init = b.initializers.find((i) => i.name === name);
  if (!init || init.dataType !== DataType.FLOAT) return false;
  const values = new Float32Array(init.bytes.slice().buffer);
  return values.every((v) => v === 1);
}
