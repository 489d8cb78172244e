// A rendered tensor graph as ONNX model bytes (opset 17, float32 inputs and outputs), for tests
// that run small hand-built graphs in onnxruntime. A dimension given as a string is symbolic
// (any size), as exporters write a batch or image size the model does not fix.
import { DataType, type NodeProto, onnx } from "../../src/compiler/emit/onnx/proto.ts";
import { tensorProto } from "../../src/compiler/emit/onnx/render.ts";
import type { Initializer } from "../../src/compiler/tensor/graph.ts";

type Value = [name: string, dims: (number | string)[]];

const info = ([name, dims]: Value) => ({
  name,
  type: {
    tensorType: {
      elemType: DataType.FLOAT,
      shape: { dim: dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })) },
    },
  },
});

export function encodeRendered(
  name: string,
  rendered: { nodes: NodeProto[]; initializers: Initializer[] },
  inputs: Value[],
  outputs: Value[],
): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name,
      node: rendered.nodes,
      input: inputs.map(info),
      output: outputs.map(info),
      initializer: rendered.initializers.map((i) => tensorProto(i)),
    },
  }).finish();
}
