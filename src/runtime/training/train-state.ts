// The full training state in one safetensors file: weights, EMA, Adam moments, and in the
// metadata the step, generator and data-order state, so `--resume` continues exactly.
import type * as tf from "@tensorflow/tfjs";
import type { Graph } from "../../compiler/ir/types.ts";
import type { ResolvedEntry } from "../../compiler/pipeline.ts";
import { InputError } from "../../errors.ts";
import { checkpointMetadata, weightsFrom } from "../checkpoint/model-checkpoint.ts";
import {
  encodeSafetensors,
  float32Tensor,
  readSafetensors,
  type StoredTensor,
  toFloat32,
  writeFileAtomic,
} from "../checkpoint/safetensors.ts";
import type { DataOrderState } from "../data/data-order.ts";

export const STATE_FORMAT = "diffit-train-state/1";

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

export function loadTrainState(path: string, graph: Graph, specHash: string): LoadedState {
  const file = readSafetensors(path);
  if (file.metadata.format !== STATE_FORMAT) {
    throw new InputError(
      `${path} is not a training state (format ${file.metadata.format ?? "missing"}); use --init for weights-only checkpoints`,
    );
  }
  if (file.metadata.specHash !== specHash) {
    throw new InputError(
      `${path} was trained with another spec (hash ${file.metadata.specHash}, now ${specHash}); resume needs the same spec`,
    );
  }
  const trainable = { ...graph, params: graph.params.filter((p) => p.trainable) };
  const moments = (prefix: string) => {
    const out = new Map<string, Float32Array>();
    for (const p of trainable.params) {
      const t = file.tensors.get(`${prefix}/${p.name}`);
      if (!t) throw new InputError(`${path} lacks ${prefix}/${p.name}`);
      out.set(p.name, toFloat32(t));
    }
    return out;
  };
  return {
    progress: JSON.parse(file.metadata.progress ?? "{}") as TrainProgress,
    model: weightsFrom(file, graph, path, "model/"),
    ema: weightsFrom(file, graph, path, "ema/"),
    adamM: moments("adam.m"),
    adamV: moments("adam.v"),
    metadata: file.metadata,
  };
}
