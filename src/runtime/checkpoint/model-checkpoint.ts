// Model weights as safetensors, with the resolved spec and its hash in the metadata. Loading
// checks every name and shape against the IR first and fails with the full list of differences:
// a checkpoint is never partially loaded.
import type { Graph } from "../../compiler/ir/types.ts";
import { canonicalJson, type ResolvedEntry } from "../../compiler/pipeline.ts";
import {
  encodeSafetensors,
  float32Tensor,
  readSafetensors,
  type SafetensorsFile,
  type StoredTensor,
  toFloat32,
  writeFileAtomic,
} from "./safetensors.ts";

export const CHECKPOINT_FORMAT = "diffit-weights/1";

export class CheckpointMismatchError extends Error {
  constructor(
    readonly path: string,
    readonly problems: string[],
    /** The spec the file says it was written for, when it is not the one it was loaded with. */
    readonly writtenFor?: { checkpoint: string; spec: string },
  ) {
    const origin = writtenFor
      ? ` (it was written for spec ${writtenFor.checkpoint}, not ${writtenFor.spec}: pass that spec, or a checkpoint of this one)`
      : "";
    super(
      `${path} does not fit the spec${origin} (${problems.length} problem(s)):\n${problems.map((p) => `  ${p}`).join("\n")}`,
    );
  }
}

export function checkpointMetadata(
  entry: Pick<ResolvedEntry, "name" | "hash" | "spec">,
): Record<string, string> {
  return {
    format: CHECKPOINT_FORMAT,
    name: entry.name,
    spec: canonicalJson(entry.spec),
    specHash: entry.hash,
  };
}

export function encodeWeights(
  weights: Map<string, Float32Array>,
  graph: Graph,
  metadata: Record<string, string>,
): Buffer {
  const tensors = new Map<string, StoredTensor>();
  for (const p of graph.params) {
    const w = weights.get(p.name);
    if (!w) throw new Error(`no weights for ${p.name}`);
    tensors.set(p.name, float32Tensor(w, p.shape));
  }
  return encodeSafetensors({ tensors, metadata });
}

export function saveWeights(
  path: string,
  weights: Map<string, Float32Array>,
  graph: Graph,
  metadata: Record<string, string>,
): void {
  writeFileAtomic(path, encodeWeights(weights, graph, metadata));
}

/** Every difference between a file's tensors and the graph's parameters. */
export function weightProblems(file: SafetensorsFile, graph: Graph, prefix = ""): string[] {
  const problems: string[] = [];
  const expected = new Set<string>();
  for (const p of graph.params) {
    expected.add(prefix + p.name);
    const t = file.tensors.get(prefix + p.name);
    if (!t) problems.push(`missing ${p.name} [${p.shape.join(", ")}]`);
    else if (t.dtype !== "F32") problems.push(`${p.name}: dtype ${t.dtype}, expected F32`);
    else if (t.shape.join(",") !== p.shape.join(","))
      problems.push(`${p.name}: shape [${t.shape.join(", ")}], spec needs [${p.shape.join(", ")}]`);
  }
  for (const name of file.tensors.keys()) {
    if (name.startsWith(prefix) && !expected.has(name))
      problems.push(`unexpected ${name.slice(prefix.length)}`);
  }
  return problems;
}

export function weightsFrom(
  file: SafetensorsFile,
  graph: Graph,
  path: string,
  prefix = "",
): Map<string, Float32Array> {
  const problems = weightProblems(file, graph, prefix);
  if (problems.length > 0) {
    const written = file.metadata.name;
    const other = written !== undefined && written !== graph.name;
    throw new CheckpointMismatchError(
      path,
      problems,
      other ? { checkpoint: written, spec: graph.name } : undefined,
    );
  }
  const out = new Map<string, Float32Array>();
  for (const p of graph.params) {
    const t = file.tensors.get(prefix + p.name);
    if (t) out.set(p.name, toFloat32(t));
  }
  return out;
}

export function loadWeights(
  path: string,
  graph: Graph,
): { weights: Map<string, Float32Array>; metadata: Record<string, string> } {
  const file = readSafetensors(path);
  return { weights: weightsFrom(file, graph, path), metadata: file.metadata };
}
