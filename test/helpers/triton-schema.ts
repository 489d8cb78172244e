// The part of Triton's model configuration (the ModelConfig message of config.pbtxt) that an
// exported diffit model uses, written here from Triton's model-configuration documentation:
// field names and nesting, scalar types, enum values, which fields repeat and which are one of a
// choice; and the rules the documentation states beyond the message's shape (the batch
// dimension, dims of rank ≥ 1, reshape keeping the element count, preferred batch sizes within
// max_batch_size, CPU instances without GPUs). A test checks written files against it without
// using diffit's own view of the format.
import type { PbtxtField, PbtxtValue } from "../../src/runtime/deploy/pbtxt.ts";

type Scalar = "string" | "bool" | "int32" | "int64" | "uint32" | "uint64";

interface FieldSpec {
  type: Scalar | "enum" | "message";
  values?: readonly string[];
  message?: MessageSpec;
  repeated?: boolean;
}

interface MessageSpec {
  fields: Record<string, FieldSpec>;
  /** Groups of fields of which at most one may be set (a protobuf oneof). */
  oneofs?: readonly (readonly string[])[];
}

const DATA_TYPES = [
  "TYPE_INVALID",
  "TYPE_BOOL",
  "TYPE_UINT8",
  "TYPE_UINT16",
  "TYPE_UINT32",
  "TYPE_UINT64",
  "TYPE_INT8",
  "TYPE_INT16",
  "TYPE_INT32",
  "TYPE_INT64",
  "TYPE_FP16",
  "TYPE_FP32",
  "TYPE_FP64",
  "TYPE_STRING",
  "TYPE_BF16",
] as const;

const reshape: MessageSpec = { fields: { shape: { type: "int64", repeated: true } } };

const modelInput: MessageSpec = {
  fields: {
    name: { type: "string" },
    data_type: { type: "enum", values: DATA_TYPES },
    format: { type: "enum", values: ["FORMAT_NONE", "FORMAT_NHWC", "FORMAT_NCHW"] },
    dims: { type: "int64", repeated: true },
    reshape: { type: "message", message: reshape },
    is_shape_tensor: { type: "bool" },
    allow_ragged_batch: { type: "bool" },
    optional: { type: "bool" },
  },
};

const modelOutput: MessageSpec = {
  fields: {
    name: { type: "string" },
    data_type: { type: "enum", values: DATA_TYPES },
    dims: { type: "int64", repeated: true },
    reshape: { type: "message", message: reshape },
    label_filename: { type: "string" },
    is_shape_tensor: { type: "bool" },
  },
};

const versionPolicy: MessageSpec = {
  fields: {
    latest: { type: "message", message: { fields: { num_versions: { type: "uint32" } } } },
    all: { type: "message", message: { fields: {} } },
    specific: { type: "message", message: { fields: { versions: { type: "int64", repeated: true } } } },
  },
  oneofs: [["latest", "all", "specific"]],
};

const dynamicBatching: MessageSpec = {
  fields: {
    preferred_batch_size: { type: "int32", repeated: true },
    max_queue_delay_microseconds: { type: "uint64" },
    preserve_ordering: { type: "bool" },
    priority_levels: { type: "uint64" },
    default_priority_level: { type: "uint64" },
  },
};

const instanceGroup: MessageSpec = {
  fields: {
    name: { type: "string" },
    kind: { type: "enum", values: ["KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL"] },
    count: { type: "int32" },
    gpus: { type: "int32", repeated: true },
    profile: { type: "string", repeated: true },
    passive: { type: "bool" },
    host_policy: { type: "string" },
  },
};

const parameterEntry: MessageSpec = {
  fields: {
    key: { type: "string" },
    value: { type: "message", message: { fields: { string_value: { type: "string" } } } },
  },
};

export const MODEL_CONFIG: MessageSpec = {
  fields: {
    name: { type: "string" },
    platform: { type: "string" },
    backend: { type: "string" },
    version_policy: { type: "message", message: versionPolicy },
    max_batch_size: { type: "int32" },
    input: { type: "message", message: modelInput, repeated: true },
    output: { type: "message", message: modelOutput, repeated: true },
    dynamic_batching: { type: "message", message: dynamicBatching },
    // The other two scheduling choices, here only so that the oneof can be checked.
    sequence_batching: { type: "message", message: { fields: {} } },
    ensemble_scheduling: { type: "message", message: { fields: {} } },
    instance_group: { type: "message", message: instanceGroup, repeated: true },
    default_model_filename: { type: "string" },
    // map<string, ModelParameter>: in text format, repeated {key, value} entries.
    parameters: { type: "message", message: parameterEntry, repeated: true },
  },
  oneofs: [["dynamic_batching", "sequence_batching", "ensemble_scheduling"]],
};

const RANGES: Record<Exclude<Scalar, "string" | "bool">, [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};

function valueProblem(path: string, f: FieldSpec, v: PbtxtValue): string | undefined {
  if (f.type === "message") return v.kind === "message" ? undefined : `${path}: expected a message`;
  if (f.type === "string") return v.kind === "string" ? undefined : `${path}: expected a string`;
  if (f.type === "bool")
    return v.kind === "identifier" && (v.value === "true" || v.value === "false")
      ? undefined
      : `${path}: expected true or false`;
  if (f.type === "enum")
    return v.kind === "identifier" && f.values?.includes(v.value)
      ? undefined
      : `${path}: ${v.kind === "identifier" ? v.value : v.kind} is not one of ${f.values?.join(", ")}`;
  const [lo, hi] = RANGES[f.type];
  if (v.kind !== "number" || !Number.isInteger(v.value) || !/^-?\d+$/.test(v.text))
    return `${path}: expected a decimal ${f.type}`;
  return v.value >= lo && v.value <= hi ? undefined : `${path}: ${v.value} is outside ${f.type}`;
}

/** Every way `fields` differs from `spec` (unknown fields, types, repetition, oneofs), with paths. */
export function schemaProblems(
  fields: readonly PbtxtField[],
  spec: MessageSpec = MODEL_CONFIG,
  at = "",
): string[] {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  for (const field of fields) {
    const path = `${at}${field.name}`;
    const f = spec.fields[field.name];
    if (!f) {
      problems.push(`${path} (line ${field.line}): no such field`);
      continue;
    }
    const k = seen.get(field.name) ?? 0;
    seen.set(field.name, k + 1);
    if (!f.repeated && (k > 0 || field.inList))
      problems.push(`${path} (line ${field.line}): not a repeated field`);
    const item = f.repeated ? `${path}[${k}]` : path;
    const p = valueProblem(item, f, field.value);
    if (p) problems.push(p);
    else if (field.value.kind === "message" && f.message)
      problems.push(...schemaProblems(field.value.fields, f.message, `${item}.`));
  }
  for (const group of spec.oneofs ?? []) {
    const set = group.filter((name) => seen.has(name));
    if (set.length > 1)
      problems.push(`${at}${set.join(" and ")}: only one of ${group.join(", ")} may be set`);
  }
  return problems;
}

// ---- a typed view of a configuration that passed the schema ----

export interface ConfigTensor {
  name: string;
  dataType: string;
  dims: number[];
  reshape?: number[];
}

export interface ModelConfigView {
  name: string;
  platform: string;
  backend: string;
  maxBatchSize: number;
  inputs: ConfigTensor[];
  outputs: ConfigTensor[];
  defaultModelFilename?: string;
  dynamicBatching?: { preferred: number[]; maxQueueDelay: number };
  instanceGroups: { kind: string; count: number; gpus: number[] }[];
}

const all = (fields: readonly PbtxtField[], name: string) =>
  fields.filter((f) => f.name === name).map((f) => f.value);
const one = (fields: readonly PbtxtField[], name: string) => all(fields, name)[0];
const text = (v: PbtxtValue | undefined) =>
  v?.kind === "string" || v?.kind === "identifier" ? v.value : undefined;
const num = (v: PbtxtValue | undefined) => (v?.kind === "number" ? v.value : undefined);
const sub = (v: PbtxtValue | undefined) => (v?.kind === "message" ? v.fields : undefined);
const nums = (fields: readonly PbtxtField[], name: string) =>
  all(fields, name).map((v) => num(v) ?? Number.NaN);

function tensor(fields: readonly PbtxtField[]): ConfigTensor {
  const r = sub(one(fields, "reshape"));
  return {
    name: text(one(fields, "name")) ?? "",
    dataType: text(one(fields, "data_type")) ?? "TYPE_INVALID",
    dims: nums(fields, "dims"),
    ...(r ? { reshape: nums(r, "shape") } : {}),
  };
}

/** The configuration's values, proto3 defaults filled in (strings "", numbers 0, enums the first). */
export function configView(fields: readonly PbtxtField[]): ModelConfigView {
  const batching = sub(one(fields, "dynamic_batching"));
  const filename = text(one(fields, "default_model_filename"));
  return {
    name: text(one(fields, "name")) ?? "",
    platform: text(one(fields, "platform")) ?? "",
    backend: text(one(fields, "backend")) ?? "",
    maxBatchSize: num(one(fields, "max_batch_size")) ?? 0,
    inputs: all(fields, "input").map((v) => tensor(sub(v) ?? [])),
    outputs: all(fields, "output").map((v) => tensor(sub(v) ?? [])),
    ...(filename !== undefined ? { defaultModelFilename: filename } : {}),
    ...(batching
      ? {
          dynamicBatching: {
            preferred: nums(batching, "preferred_batch_size"),
            maxQueueDelay: num(one(batching, "max_queue_delay_microseconds")) ?? 0,
          },
        }
      : {}),
    instanceGroups: all(fields, "instance_group").map((v) => {
      const g = sub(v) ?? [];
      return {
        kind: text(one(g, "kind")) ?? "KIND_AUTO",
        count: num(one(g, "count")) ?? 1,
        gpus: nums(g, "gpus"),
      };
    }),
  };
}

const elements = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** The documented rules a configuration must keep beyond its message's shape. */
export function ruleProblems(c: ModelConfigView, folderName: string): string[] {
  const problems: string[] = [];
  if (c.name !== folderName) problems.push(`name ${c.name} differs from its folder ${folderName}`);
  if (c.platform === "" && c.backend === "") problems.push("neither platform nor backend is set");
  if (
    c.platform !== "" &&
    c.backend !== "" &&
    (c.platform !== "onnxruntime_onnx") !== (c.backend !== "onnxruntime")
  )
    problems.push(`platform ${c.platform} and backend ${c.backend} disagree`);
  if (c.maxBatchSize < 0) problems.push(`max_batch_size ${c.maxBatchSize} is negative`);
  for (const [role, list] of [
    ["input", c.inputs],
    ["output", c.outputs],
  ] as const) {
    if (list.length === 0) problems.push(`no ${role}`);
    const names = list.map((t) => t.name);
    if (new Set(names).size !== names.length) problems.push(`${role} names repeat: ${names.join(", ")}`);
    for (const t of list) {
      const at = `${role} ${t.name || "(unnamed)"}`;
      if (t.name === "") problems.push(`${at}: no name`);
      if (t.dataType === "TYPE_INVALID") problems.push(`${at}: no data_type`);
      // An empty shape is not allowed: a scalar per sample is dims [1] reshaped to [].
      if (t.dims.length === 0) problems.push(`${at}: dims is empty`);
      if (t.dims.some((d) => d !== -1 && !(d > 0)))
        problems.push(`${at}: dims [${t.dims}] must be > 0 or -1`);
      if (t.reshape) {
        const variable = t.dims.includes(-1) || t.reshape.includes(-1);
        if (!variable && elements(t.reshape) !== elements(t.dims))
          problems.push(`${at}: reshape [${t.reshape}] has another element count than dims [${t.dims}]`);
      }
    }
  }
  const b = c.dynamicBatching;
  if (b && c.maxBatchSize < 1) problems.push("dynamic_batching needs max_batch_size ≥ 1");
  for (const p of b?.preferred ?? [])
    if (p < 1 || p > c.maxBatchSize) problems.push(`preferred_batch_size ${p} is outside 1..max_batch_size`);
  for (const g of c.instanceGroups) {
    if (g.count < 1) problems.push(`instance_group count ${g.count} < 1`);
    if (g.kind === "KIND_CPU" && g.gpus.length > 0) problems.push("a KIND_CPU instance_group lists gpus");
  }
  return problems;
}
