// Tensor-tier graph → ONNX protos. The tensor ops have ONNX semantics, so each node becomes one
// NodeProto; the renderer's own work is the attribute encoding and the opset differences
// (reduction axes moved from an attribute to an input at opset 18).
import type { Initializer, TensorGraph } from "../../tensor/graph.ts";
import type { TensorNode } from "../../tensor/ops.ts";
import { type AttributeProto, AttributeType, type NodeProto, type TensorProto } from "./proto.ts";

/** Attributes ONNX declares as floats even when their value is a whole number. */
const FLOAT_ATTRS = new Set(["epsilon", "alpha", "beta"]);

function attribute(name: string, v: unknown): AttributeProto {
  if (typeof v === "string") return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === "number") {
    return Number.isInteger(v) && !FLOAT_ATTRS.has(name)
      ? { name, type: AttributeType.INT, i: v }
      : { name, type: AttributeType.FLOAT, f: v };
  }
  if (Array.isArray(v) && v.every((x) => typeof x === "number"))
    return { name, type: AttributeType.INTS, ints: v as number[] };
  throw new Error(`attribute ${name} has no ONNX encoding`);
}

function renderNode(g: TensorGraph, n: TensorNode, opset: number): NodeProto {
  const attrs: [string, unknown][] = Object.entries(n.attrs);
  let inputs = n.inputs;
  // ReduceMean and ReduceSumSquare took their axes as an attribute before opset 18.
  if ((n.op === "ReduceMean" || n.op === "ReduceSumSquare") && opset < 18 && inputs[1]) {
    attrs.push(["axes", g.valuesOf(inputs[1])]);
    inputs = [inputs[0] ?? ""];
  }
  return {
    opType: n.op,
    name: n.name,
    input: [...inputs],
    output: [...n.outputs],
    attribute: attrs.map(([k, v]) => attribute(k, v)),
  };
}

/**
 * The graph's nodes with each alias's Identity folded into the node that computes its value,
 * which then writes the alias directly (readers of the value read the alias). onnxruntime runs an
 * Identity as a copy: on diffit-cifar10 the training step's four 113 MB state outputs cost 26 ms.
 * An alias of a graph input, or a second alias of one value, keeps its Identity.
 */
export function foldAliases(g: TensorGraph): TensorNode[] {
  const produced = new Set(g.nodes.flatMap((n) => n.outputs));
  const renamed = new Map<string, string>();
  const folded = new Set<TensorNode>();
  for (const n of g.nodes) {
    const [value, alias] = [n.inputs[0], n.outputs[0]];
    if (n.op !== "Identity" || !alias || !g.aliases.has(alias) || !value) continue;
    if (!produced.has(value) || renamed.has(value) || g.aliases.has(value)) continue;
    renamed.set(value, alias);
    folded.add(n);
  }
  const rename = (names: readonly string[]) => names.map((x) => renamed.get(x) ?? x);
  return g.nodes
    .filter((n) => !folded.has(n))
    .map((n) => ({ ...n, inputs: rename(n.inputs), outputs: rename(n.outputs) }) as TensorNode);
}

/**
 * The graph's nodes as NodeProtos for `opset`, and the stored tensors they read (a constant can
 * lose its last reader in rendering: reduction axes written as an attribute before opset 18).
 */
export function renderGraph(
  g: TensorGraph,
  opset: number,
): { nodes: NodeProto[]; initializers: Initializer[] } {
  const nodes = foldAliases(g).map((n) => renderNode(g, n, opset));
  const read = new Set(nodes.flatMap((n) => n.input ?? []));
  return { nodes, initializers: g.initializers.filter((i) => read.has(i.name)) };
}

/** A stored tensor, inline or (for large weights) as a reference into an external data file. */
export function tensorProto(i: Initializer, external?: { location: string; offset: number }): TensorProto {
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
