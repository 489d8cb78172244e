// Model weights as safetensors, with the resolved spec and its hash in the metadata. Loading
// checks every name and shape against the IR first and fails with the full list of differences:
// a checkpoint is never partially loaded.
import type { Graph } from "../../compiler/ir/types.ts";
import { canonicalJson, type ResolvedEntry } from "../../compiler/pipeline.ts";
import { InputError } from "../../errors.ts";
import {
  encodeSafetensors,
  FLOAT_DTYPES,
  float32Tensor,
  isFloat,
  readSafetensors,
  type SafetensorsFile,
  type StoredTensor,
  toFloat32,
  writeFileAtomic,
} from "./safetensors.ts";

export const CHECKPOINT_FORMAT = "diffit-weights/1";
/** The format of a training state (train-state.ts), named here to point at its EMA file. */
export const TRAIN_STATE_FORMAT = "diffit-train-state/1";

/** Problems listed in a message; the rest are counted (a file of another model misses hundreds). */
const LISTED = 20;

/** The first problems, one a line, and how many more there are. */
export function problemList(problems: readonly string[]): string {
  const shown = problems.slice(0, LISTED).map((p) => `  ${p}`);
  if (problems.length > LISTED) shown.push(`  … and ${problems.length - LISTED} more`);
  return shown.join("\n");
}

export class CheckpointMismatchError extends InputError {
  constructor(
    readonly path: string,
    readonly problems: string[],
    /** The spec the file says it was written for, when it is not the one it was loaded with. */
    readonly writtenFor?: { checkpoint: string; spec: string },
    hint = "",
  ) {
    const origin = writtenFor
      ? ` (it was written for spec ${writtenFor.checkpoint}, not ${writtenFor.spec}: pass that spec, or a checkpoint of this one)`
      : "";
    const fix =
      writtenFor || hint.includes("training state")
        ? ""
        : "\npass weights of this spec (as diffit train or diffit import write them)";
    super(
      `${path} does not fit the spec${origin}${hint} (${problems.length} problem(s)):\n${problemList(problems)}${fix}`,
    );
  }
}

/** Weights with NaN or ±Inf values: nothing useful can be sampled, exported or trained from them. */
export class NonFiniteWeightsError extends InputError {
  constructor(
    readonly path: string,
    /** Each non-finite tensor (as named in the file) and how many of its values are. */
    readonly tensors: { name: string; count: number; of: number }[],
  ) {
    const [first] = tensors;
    const more =
      tensors.length > 1
        ? `, and ${tensors.length - 1} more tensor(s) (${tensors
            .slice(1, 4)
            .map((t) => t.name)
            .join(", ")}${tensors.length > 4 ? ", …" : ""})`
        : "";
    super(
      `${path} holds non-finite weights: ${first?.name} has ${first?.count} NaN or infinite value(s) of ${first?.of}${more}. These weights are broken (the run that wrote them diverged, or the file was damaged); use a checkpoint written before that, or train again`,
    );
  }
}

/** Where notes on a file go (float16 weights widened, say): stderr, beside the command's own output. */
export type Note = (line: string) => void;
export const stderrNote: Note = (line) => {
  process.stderr.write(`${line}\n`);
};

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

const shapeText = (shape: readonly number[]) => `[${shape.join(", ")}]`;

/**
 * Every difference between a file's tensors under `prefix` and the parameters `params`: missing,
 * unexpected, not a float type, or of another shape (expected and found named).
 */
export function tensorProblems(
  file: SafetensorsFile,
  params: readonly { name: string; shape: readonly number[] }[],
  prefix = "",
): string[] {
  const problems: string[] = [];
  const expected = new Set<string>();
  for (const p of params) {
    expected.add(prefix + p.name);
    const t = file.tensors.get(prefix + p.name);
    if (!t) problems.push(`missing ${prefix}${p.name} ${shapeText(p.shape)}`);
    else if (!isFloat(t.dtype))
      problems.push(
        `${prefix}${p.name}: dtype ${t.dtype}, expected a float type (${FLOAT_DTYPES.join(", ")})`,
      );
    else if (t.shape.join(",") !== p.shape.join(","))
      problems.push(`${prefix}${p.name}: shape ${shapeText(t.shape)}, spec needs ${shapeText(p.shape)}`);
  }
  for (const name of file.tensors.keys()) {
    if (name.startsWith(prefix) && !expected.has(name)) problems.push(`unexpected ${name}`);
  }
  return problems;
}

/** Every difference between a file's tensors and the graph's parameters. */
export function weightProblems(file: SafetensorsFile, graph: Graph, prefix = ""): string[] {
  return tensorProblems(file, graph.params, prefix);
}

/** A hint for a file that is something other than weights of this spec: a training state. */
function formatHint(file: SafetensorsFile, prefix: string): string {
  if (prefix === "" && file.metadata.format === TRAIN_STATE_FORMAT)
    return "; it is a training state (for train --resume): pass the EMA weights beside it (ema.safetensors)";
  if (file.tensors.size === 0) return "; it holds no tensors at all";
  return "";
}

/**
 * Float32 copies of a file's tensors, gathered group by group (a training state has four), with
 * float16/bfloat16 widened and non-finite values counted; `finish` refuses non-finite tensors by
 * name and notes the widening once for the whole file.
 */
export class FloatReader {
  private readonly nonFinite: { name: string; count: number; of: number }[] = [];
  private readonly widened = new Map<string, number>();

  constructor(
    private readonly file: SafetensorsFile,
    private readonly path: string,
  ) {}

  /** The tensors `prefix + name` for each name (the file's names and shapes already checked). */
  take(names: readonly string[], prefix = ""): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const name of names) {
      const t = this.file.tensors.get(prefix + name);
      if (!t) continue;
      if (t.dtype !== "F32") this.widened.set(t.dtype, (this.widened.get(t.dtype) ?? 0) + 1);
      const values = toFloat32(t);
      let count = 0;
      for (const v of values) if (!Number.isFinite(v)) count++;
      if (count > 0) this.nonFinite.push({ name: prefix + name, count, of: values.length });
      out.set(name, values);
    }
    return out;
  }

  finish(note: Note): void {
    if (this.nonFinite.length > 0) throw new NonFiniteWeightsError(this.path, this.nonFinite);
    if (this.widened.size > 0)
      note(
        `note: ${this.path} stores ${[...this.widened].map(([d, n]) => `${n} ${d} tensor(s)`).join(" and ")}; widened to float32 (exactly)`,
      );
  }
}

export function weightsFrom(
  file: SafetensorsFile,
  graph: Graph,
  path: string,
  prefix = "",
  note: Note = stderrNote,
): Map<string, Float32Array> {
  const problems = weightProblems(file, graph, prefix);
  if (problems.length > 0) {
    const written = file.metadata.name;
    const other = written !== undefined && written !== graph.name;
    throw new CheckpointMismatchError(
      path,
      problems,
      other ? { checkpoint: written, spec: graph.name } : undefined,
      formatHint(file, prefix),
    );
  }
  const reader = new FloatReader(file, path);
  const weights = reader.take(
    graph.params.map((p) => p.name),
    prefix,
  );
  reader.finish(note);
  return weights;
}

/**
 * The weights of `graph` from a safetensors file, every name, shape and value checked: a file of
 * another shape, or with NaN or infinite values, is refused with the tensors named.
 */
export function loadWeights(
  path: string,
  graph: Graph,
  note: Note = stderrNote,
): { weights: Map<string, Float32Array>; metadata: Record<string, string> } {
  const file = readSafetensors(path);
  return { weights: weightsFrom(file, graph, path, "", note), metadata: file.metadata };
}
