// The Triton model configuration (config.pbtxt) of an exported ONNX file, derived from the
// file's own inputs and outputs: names, element types and the dims after the batch dimension,
// which Triton leaves out of `dims` when max_batch_size > 0. Triton refuses empty dims, so a
// per-sample scalar (sigma [batch], y [batch]) is declared as dims [1] and reshaped to [] for the
// model: clients send it as [N, 1]. Served by Triton's ONNX Runtime backend.
import { specSlug } from "../../compiler/spec-slug.ts";
import { InputError } from "../../errors.ts";
import { DataType, type OnnxFile, type OnnxValue } from "../onnx/model-file.ts";
import { formatPbtxt, type PbMessage, pbEnum } from "./pbtxt.ts";

/** Triton's names of the ONNX element types it serves. */
const TRITON_TYPES: ReadonlyMap<number, string> = new Map([
  [DataType.FLOAT, "TYPE_FP32"],
  [DataType.FLOAT16, "TYPE_FP16"],
  [DataType.BFLOAT16, "TYPE_BF16"],
  [DataType.DOUBLE, "TYPE_FP64"],
  [DataType.INT64, "TYPE_INT64"],
  [DataType.INT32, "TYPE_INT32"],
  [DataType.INT16, "TYPE_INT16"],
  [DataType.INT8, "TYPE_INT8"],
  [DataType.UINT8, "TYPE_UINT8"],
  [DataType.BOOL, "TYPE_BOOL"],
]);

export interface TritonTensor {
  name: string;
  dataType: string;
  /** Without the batch dimension; -1 where the file gives no size. */
  dims: number[];
  /** The shape the model takes (per sample), when it differs from dims. */
  reshape?: number[];
}

export type InstanceKind = "cpu" | "gpu";

/** What the user chooses; the rest comes from the ONNX file. */
export interface TritonServing {
  name: string;
  maxBatchSize: number;
  /** Batch sizes the dynamic batcher runs at once when it can form them; empty: as large as it can. */
  preferredBatchSizes: number[];
  /** How long a request may wait for others to batch with. */
  maxQueueDelayMicroseconds: number;
  instanceKind: InstanceKind;
  instanceCount: number;
}

export interface TritonModelConfig extends TritonServing {
  inputs: TritonTensor[];
  outputs: TritonTensor[];
}

/** A model name Triton serves from a folder of that name and clients put in URLs. */
export const TRITON_MODEL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** A spec or variant name as a Triton model name (`tiny[depth=1]` → `tiny--depth-1`). */
export function tritonModelName(specName: string): string {
  return specSlug(specName).replace(/^[.-]+/, "") || "model";
}

function tensor(file: OnnxFile, v: OnnxValue, role: string): TritonTensor {
  const fix = "export it again with diffit export --triton";
  const dataType = v.elemType === undefined ? undefined : TRITON_TYPES.get(v.elemType);
  if (!dataType)
    throw new InputError(`${file.path}: ${role} ${v.name} has a type Triton does not serve; ${fix}`);
  const [batch, ...rest] = v.dims ?? [];
  if (v.dims === undefined || typeof batch === "number")
    throw new InputError(
      `${file.path}: ${role} ${v.name} has no batch dimension (${v.dims === undefined ? "no shape" : `dims [${v.dims.join(", ")}]`}), so Triton cannot batch it; ${fix}`,
    );
  const dims = rest.map((d) => (typeof d === "number" ? d : -1));
  return dims.length === 0
    ? { name: v.name, dataType, dims: [1], reshape: [] }
    : { name: v.name, dataType, dims };
}

/** The configuration serving `file` as `serving` says. */
export function tritonConfig(file: OnnxFile, serving: TritonServing): TritonModelConfig {
  return {
    ...serving,
    inputs: file.inputs.map((v) => tensor(file, v, "input")),
    outputs: file.outputs.map((v) => tensor(file, v, "output")),
  };
}

function tensorMessage(t: TritonTensor): PbMessage {
  return {
    name: t.name,
    data_type: pbEnum(t.dataType),
    dims: t.dims,
    reshape: t.reshape ? { shape: t.reshape } : undefined,
  };
}

/** config.pbtxt: `comments` first (each line prefixed with #), then the ModelConfig message. */
export function formatTritonConfig(c: TritonModelConfig, comments: readonly string[] = []): string {
  const message: PbMessage = {
    name: c.name,
    // The ONNX Runtime backend; platform and backend name it both ways, as Triton's own examples do.
    platform: "onnxruntime_onnx",
    backend: "onnxruntime",
    version_policy: { latest: { num_versions: 1 } },
    max_batch_size: c.maxBatchSize,
    input: c.inputs.map(tensorMessage),
    output: c.outputs.map(tensorMessage),
    dynamic_batching: {
      preferred_batch_size: c.preferredBatchSizes.length > 0 ? c.preferredBatchSizes : undefined,
      max_queue_delay_microseconds: c.maxQueueDelayMicroseconds,
    },
    instance_group: [
      { kind: pbEnum(c.instanceKind === "gpu" ? "KIND_GPU" : "KIND_CPU"), count: c.instanceCount },
    ],
  };
  const header = comments.map((line) => `# ${line.replace(/[\r\n]+/g, " ")}\n`).join("");
  return `${header}${formatPbtxt(message)}`;
}
