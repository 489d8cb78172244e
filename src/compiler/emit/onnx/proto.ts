// onnx-proto is the ONNX 1.10 schema (IR 8) compiled to protobufjs; newer opsets only need a
// newer opset_import and ir_version, which the emitter sets itself.
import onnxProto from "onnx-proto";

export const onnx = onnxProto.onnx;
export type ModelProto = onnxProto.onnx.IModelProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;

export const DataType = onnxProto.onnx.TensorProto.DataType;
export const AttributeType = onnxProto.onnx.AttributeProto.AttributeType;

/** The IR version each supported opset ships with (onnx/Versioning.md). */
export function irVersionFor(opset: number): number {
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

export const SUPPORTED_OPSETS = [17, 18, 19, 20, 21] as const;
