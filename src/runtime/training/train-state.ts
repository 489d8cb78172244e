// The full training state in one safetensors file: weights, EMA, Adam moments, and in the
// metadata the step, generator and data-order state, so `--resume` continues exactly.
import type * as tf from "@tensorflow/tfjs";
import type { Graph } from "../../compiler/ir/types.ts";
import type { ResolvedEntry } from "../../compiler/pipeline.ts";
import { InputError } from "../../errors.ts";
import {
  CheckpointMismatchError,
  checkpointMetadata,
  FloatReader,
  type Note,
  stderrNote,
  TRAIN_STATE_FORMAT,
  tensorProblems,
} from "../checkpoint/model-checkpoint.ts";
import {
  encodeSafetensors,
  float32Tensor,
  readSafetensors,
  type StoredTensor,
  writeFileAtomic,
} from "../checkpoint/safetensors.ts";
import type { DataOrderState } from "../data/data-order.ts";
import { checkProgress, checkSettings } from "./train-progress.ts";

export const STATE_FORMAT = TRAIN_STATE_FORMAT;

export interface TrainProgress {
  step: number;
  adamStep: number;
  rng: number[];
  data: DataOrderState;
}

export interface LoadedState {
  progress: TrainProgress;
  model: Map<string, Float32Array>;
  ema: Map<string, Float32Array>;
  adamM: Map<string, Float32Array>;
  adamV: Map<string, Float32Array>;
  metadata: Record<string, string>;
}

/** A state tensor as a checkpoint stores it; the ONNX engine keeps its state in this form. */
export interface StateArray {
  data: Float32Array;
  shape: readonly number[];
}

export interface StateParts<T> {
  model: ReadonlyMap<string, T>;
  ema: ReadonlyMap<string, T>;
  adamM: ReadonlyMap<string, T>;
  adamV: ReadonlyMap<string, T>;
}

/** tfjs variables as checkpoint arrays (one dataSync each). */
export const variableArrays = (vars: ReadonlyMap<string, tf.Variable>): Map<string, StateArray> =>
  new Map([...vars].map(([name, v]) => [name, { data: v.dataSync() as Float32Array, shape: v.shape }]));

/** Writes the state file; both engines write this one format, so either resumes the other's run. */
export function saveTrainStateArrays(
  path: string,
  entry: ResolvedEntry,
  parts: StateParts<StateArray>,
  progress: TrainProgress,
  extra: Record<string, string> = {},
): void {
  const tensors = new Map<string, StoredTensor>();
  const put = (prefix: string, arrays: ReadonlyMap<string, StateArray>) => {
    for (const [name, a] of arrays) tensors.set(`${prefix}/${name}`, float32Tensor(a.data, a.shape));
  };
  put("model", parts.model);
  put("ema", parts.ema);
  put("adam.m", parts.adamM);
  put("adam.v", parts.adamV);
  const metadata = {
    ...checkpointMetadata(entry),
    ...extra,
    format: STATE_FORMAT,
    progress: JSON.stringify(progress),
  };
  writeFileAtomic(path, encodeSafetensors({ tensors, metadata }));
}

/**
 * A training state, every part checked before any of it is used: the format and spec hash; every
 * tensor of the four groups present, float, of the spec's shape (each mismatch named, expected
 * and found) and finite, Adam's second moments non-negative, no unexpected tensor; float16 and
 * bfloat16 widened (noted once); the progress and settings metadata well-formed.
 */
export function loadTrainState(
  path: string,
  graph: Graph,
  specHash: string,
  note: Note = stderrNote,
): LoadedState {
  const file = readSafetensors(path, "training state");
  if (file.metadata.format !== STATE_FORMAT) {
    throw new InputError(
      `${path} is not a training state (format ${file.metadata.format ?? "missing"}); use --init for weights-only checkpoints`,
    );
  }
  if (file.metadata.specHash !== specHash) {
    throw new InputError(
      `${path} was trained with another spec (${file.metadata.name ? `${file.metadata.name}, ` : ""}hash ${file.metadata.specHash ?? "missing"}, now ${specHash}); resume needs the same spec: pass the spec the run was trained with, or start over with --force (or another --out)`,
    );
  }
  const settings = checkSettings(path, file.metadata.settings);
  const progress = checkProgress(path, file.metadata.progress, settings?.images);
  const trainable = graph.params.filter((p) => p.trainable);
  const groups = [
    ["model/", graph.params],
    ["ema/", graph.params],
    ["adam.m/", trainable],
    ["adam.v/", trainable],
  ] as const;
  const problems = groups.flatMap(([prefix, params]) => tensorProblems(file, params, prefix));
  for (const name of file.tensors.keys())
    if (!groups.some(([prefix]) => name.startsWith(prefix))) problems.push(`unexpected ${name}`);
  if (problems.length > 0) throw new CheckpointMismatchError(path, problems);
  const reader = new FloatReader(file, path);
  const [model, ema, adamM, adamV] = groups.map(([prefix, params]) =>
    reader.take(
      params.map((p) => p.name),
      prefix,
    ),
  ) as [
    Map<string, Float32Array>,
    Map<string, Float32Array>,
    Map<string, Float32Array>,
    Map<string, Float32Array>,
  ];
  reader.finish(note);
  const negative = [...adamV].filter(([, v]) => v.some((x) => x < 0)).map(([name]) => `adam.v/${name}`);
  if (negative.length > 0)
    throw new InputError(
      `${path}: Adam's second moments ${negative.slice(0, 4).join(", ")}${negative.length > 4 ? ", …" : ""} hold negative values (squares cannot be); the file is damaged: resume from another copy, or start over with --force`,
    );
  return { progress, model, ema, adamM, adamV, metadata: file.metadata };
}
