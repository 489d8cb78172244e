// An ONNX file read and checked before onnxruntime sees it: a regular file within the protobuf
// size limit, that decodes as a ModelProto with a graph, whose external data lies in regular
// files beside it; its metadata and the types and shapes of its inputs and outputs, for callers
// to check against what they will feed it. onnxruntime's own errors name neither the file nor
// the fix; these do.
import { dirname, isAbsolute, normalize, resolve, sep } from "node:path";
import { DataType, type ModelProto, onnx, type ValueInfoProto } from "../../compiler/emit/onnx/proto.ts";
import { InputError } from "../../errors.ts";
import { readRegularFile, statRegularFile } from "../../files.ts";
import { LIMITS } from "../../limits.ts";

/** A dimension: a size, a symbolic name ("batch"), or unknown. */
export type Dim = number | string | undefined;

export interface OnnxValue {
  name: string;
  /** onnx.TensorProto.DataType, or undefined when the value is not a tensor. */
  elemType: number | undefined;
  /** undefined when the file gives no shape. */
  dims: Dim[] | undefined;
}

export interface OnnxFile {
  path: string;
  metadata: Record<string, string>;
  inputs: OnnxValue[];
  outputs: OnnxValue[];
}

const HINT = "export it again with its weights as external data (diffit export does above 1.8 GB)";

/** What a file that is not ONNX probably is, from its first bytes. */
function foreignHint(b: Uint8Array): string {
  const text = new TextDecoder().decode(b.subarray(0, 64)).trimStart();
  if (b[0] === 0x50 && b[1] === 0x4b) return " (it is a zip archive: a PyTorch checkpoint?)";
  if (text.startsWith("{")) return " (it is JSON text: a spec?)";
  if (b[8] === 0x7b) return " (it looks like a safetensors checkpoint: pass it with --checkpoint)";
  if (b[0] === 0x89 && b[1] === 0x50) return " (it is a PNG image)";
  return "";
}

const asNumber = (v: unknown): number | undefined =>
  typeof v === "number" ? v : v !== null && v !== undefined ? Number(v) : undefined;

function valueInfo(v: ValueInfoProto): OnnxValue {
  const t = v.type?.tensorType;
  const dims = t?.shape?.dim?.map((d) => (d.dimParam ? d.dimParam : asNumber(d.dimValue)));
  return {
    name: v.name ?? "",
    elemType: t?.elemType ?? undefined,
    dims: t?.shape ? (dims ?? []) : undefined,
  };
}

/** External data must be a regular file inside the model's folder, and long enough. */
function checkExternalData(path: string, graph: NonNullable<ModelProto["graph"]>): void {
  const folder = resolve(dirname(path));
  const fix = "export the model again, and keep its external data file beside it";
  const sizes = new Map<string, number>();
  for (const t of graph.initializer ?? []) {
    if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    const entry = Object.fromEntries((t.externalData ?? []).map((e) => [e.key ?? "", e.value ?? ""]));
    const location = entry.location ?? "";
    const full = resolve(folder, location);
    if (
      !location ||
      isAbsolute(location) ||
      !full.startsWith(folder + sep) ||
      normalize(location).startsWith("..")
    )
      throw new InputError(
        `${path}: tensor ${t.name} keeps its data at ${JSON.stringify(location)}, outside the model's folder; ${fix}`,
      );
    let size = sizes.get(full);
    if (size === undefined) {
      try {
        size = statRegularFile(full, "tensor data").size;
      } catch (e) {
        throw new InputError(
          `${path}: the external data of tensor ${t.name}: ${(e as Error).message}; ${fix}`,
        );
      }
      sizes.set(full, size);
    }
    const end = Number(entry.offset ?? 0) + Number(entry.length ?? 0);
    if (!(end <= size))
      throw new InputError(
        `${path}: tensor ${t.name} reads bytes up to ${end} of ${location}, which has ${size} (truncated?); ${fix}`,
      );
  }
}

/** Reads and decodes an ONNX file; `what` names it in messages ("ONNX model", "VAE decoder"). */
export function readOnnxFile(path: string, what = "ONNX model"): OnnxFile {
  const bytes = readRegularFile(path, { what, maxBytes: LIMITS.onnxModelBytes, hint: HINT });
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new InputError(
      `${path} is not an ONNX model${foreignHint(bytes)}: ${e instanceof Error ? e.message : e} (truncated or corrupt? export it again)`,
    );
  }
  const graph = model.graph;
  if (!graph || !asNumber(model.irVersion) || (model.opsetImport ?? []).length === 0)
    throw new InputError(
      `${path} is not an ONNX model${foreignHint(bytes)}: it has no ${!graph ? "graph" : !asNumber(model.irVersion) ? "IR version" : "opset"} (truncated or corrupt? export it again)`,
    );
  checkExternalData(path, graph);
  const weights = new Set((graph.initializer ?? []).map((t) => t.name));
  return {
    path,
    metadata: Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? "", p.value ?? ""])),
    inputs: (graph.input ?? []).filter((v) => !weights.has(v.name ?? "")).map(valueInfo),
    outputs: (graph.output ?? []).map(valueInfo),
  };
}

/**
 * What a caller feeds or reads: a name (or any, by position), element type and dims ("N": any
 * size; no dims: any shape).
 */
export interface Expected {
  name?: string;
  elemType: number;
  dims?: (number | "N")[];
}

const typeName = (t: number | undefined) =>
  t === undefined ? "not a tensor" : (onnx.TensorProto.DataType[t] ?? `type ${t}`).toLowerCase();
const dimsText = (dims: readonly (Dim | "N")[] | undefined) =>
  dims === undefined ? "[any shape]" : `[${dims.map((d) => d ?? "?").join(", ")}]`;

/** How `found` differs from `want`, or undefined when it fits (symbolic dims fit any size). */
function valueProblem(role: string, found: OnnxValue, want: Expected): string | undefined {
  if (found.elemType !== want.elemType)
    return `${role} ${found.name} is ${typeName(found.elemType)}, expected ${typeName(want.elemType)}`;
  const wanted = want.dims;
  if (found.dims === undefined || wanted === undefined) return undefined;
  const fits =
    found.dims.length === wanted.length &&
    found.dims.every((d, i) => typeof d !== "number" || wanted[i] === "N" || d === wanted[i]);
  return fits
    ? undefined
    : `${role} ${found.name} is ${dimsText(found.dims)}, expected ${dimsText(want.dims)}`;
}

/**
 * Every way a file's inputs and outputs differ from what the caller needs: named ones matched by
 * name (missing or extra ones listed), unnamed ones by position.
 */
export function signatureProblems(
  file: OnnxFile,
  inputs: readonly Expected[],
  outputs: readonly Expected[],
  /** Outputs past the expected ones are read by nobody: allowed when the caller says so. */
  extraOutputs = false,
): string[] {
  const problems: string[] = [];
  const side = (role: string, found: readonly OnnxValue[], wanted: readonly Expected[], extra: boolean) => {
    wanted.forEach((w, i) => {
      const f = w.name === undefined ? found[i] : found.find((v) => v.name === w.name);
      if (!f) problems.push(`no ${role} ${w.name ?? `#${i + 1}`} ${dimsText(w.dims)}`);
      else {
        const p = valueProblem(role, f, w);
        if (p) problems.push(p);
      }
    });
    if (extra) return;
    const named = new Set(wanted.map((w) => w.name));
    const others = found.filter((v, i) =>
      wanted.some((w) => w.name) ? !named.has(v.name) : i >= wanted.length,
    );
    for (const v of others) problems.push(`unexpected ${role} ${v.name} ${dimsText(v.dims)}`);
  };
  side("input", file.inputs, inputs, false);
  side("output", file.outputs, outputs, extraOutputs);
  return problems;
}

/** Throws an InputError listing the signature problems: what `user` needs, and the way out. */
export function checkSignature(
  file: OnnxFile,
  inputs: readonly Expected[],
  outputs: readonly Expected[],
  user: string,
  fix: string,
  extraOutputs = false,
): void {
  const problems = signatureProblems(file, inputs, outputs, extraOutputs);
  if (problems.length > 0)
    throw new InputError(
      `${file.path} does not have the inputs and outputs ${user} needs:\n${problems.map((p) => `  ${p}`).join("\n")}\n${fix}`,
    );
}

export { DataType };
