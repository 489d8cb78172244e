// A latent dataset folder (latent-shards.ts) loaded whole as a Dataset for training: every shard
// present and of one dataset, its latent shape and classes fitting the spec, within the memory
// limit, the latents turned channels-last as both engines take them.
import { InputError } from "../../errors.ts";
import { formatBytes, LIMITS } from "../../limits.ts";
import { nchwToNhwc } from "../onnx/layout.ts";
import type { Dataset } from "./dataset.ts";
import {
  identityChanges,
  type LatentDatasetInfo,
  readLatentShard,
  readShardHeader,
  shardFiles,
  shardName,
} from "./latent-shards.ts";

/** What of a latent spec its data must fit. */
export interface LatentTarget {
  name: string;
  channels: number;
  size: number;
  /** Class labels the spec embeds (0: unconditional). */
  classes: number;
}

const RERUN = "run the same `diffit encode` again to finish it";

/** "3, 4 and 7", at most `max` of them. */
function listIndices(indices: number[], max = 5): string {
  const shown = indices.slice(0, max).join(", ");
  return indices.length > max ? `${shown} and ${indices.length - max} more` : shown;
}

/** The dataset's shard files in order, after checking that they are all there. */
function completeShards(dir: string, info: LatentDatasetInfo, files: Map<number, string>): string[] {
  const all = Array.from({ length: info.shards }, (_, i) => i);
  const missing = all.filter((i) => !files.has(i));
  if (missing.length > 0)
    throw new InputError(
      `${dir} is incomplete: shard(s) ${listIndices(missing)} of ${info.shards} are missing (an encode stopped before the end?); ${RERUN}`,
    );
  const extra = [...files.keys()].filter((i) => i >= info.shards).sort((a, b) => a - b);
  if (extra.length > 0)
    throw new InputError(
      `${dir} holds shard(s) ${listIndices(extra)} past the ${info.shards} of its dataset (left by another encode); encode into an empty folder, or again with --force`,
    );
  return all.map((i) => files.get(i) ?? "");
}

/** The spec takes the dataset's latents, and embeds its classes. */
function checkFits(dir: string, info: LatentDatasetInfo, spec: LatentTarget): void {
  const [c, h, w] = info.latentShape;
  if (c !== spec.channels || h !== spec.size || w !== spec.size)
    throw new InputError(
      `${dir} holds [${c}, ${h}, ${w}] latents but spec ${spec.name} takes [${spec.channels}, ${spec.size}, ${spec.size}] (input.channels, input.size, input.size); train a spec of the dataset's latent shape, or encode the images for this spec (diffit encode --spec)`,
    );
  if (spec.classes > 0 && info.classNames.length > spec.classes)
    throw new InputError(
      `${dir} holds ${info.classNames.length} classes but spec ${spec.name} embeds ${spec.classes} (conditioning.classes); set conditioning.classes to ${info.classNames.length}, or encode a folder of fewer classes`,
    );
}

/** Loads every shard of `dir` (the first `limit` samples) for a spec that takes its latents. */
export function loadLatentDataset(dir: string, spec: LatentTarget, limit?: number): Dataset {
  const files = shardFiles(dir);
  if (files.size === 0) throw new InputError(`${dir} holds no latent shards (${shardName(0)}, …)`);
  if (files.size > LIMITS.latentShards)
    throw new InputError(
      `${dir} holds ${files.size} shards, more than the ${LIMITS.latentShards} diffit reads; encode with a larger --shard-size`,
    );
  const firstFile = files.get(0);
  if (!firstFile) throw new InputError(`${dir} is incomplete: shard 0 is missing; ${RERUN}`);
  const { info } = readShardHeader(firstFile);
  checkFits(dir, info, spec);
  const paths = completeShards(dir, info, files);
  // Headers first: a mixed folder or an oversized dataset is refused before any data is read.
  const counts = paths.map((path) => {
    const header = readShardHeader(path);
    const changes = identityChanges(header.info, info);
    if (changes.length > 0)
      throw new InputError(
        `${path} is not of the dataset of ${firstFile}: ${changes.join(", ")}; the folder mixes two encodes: encode again into an empty folder, or with --force`,
      );
    return header.count;
  });
  const [c, h, w] = info.latentShape;
  const total = Math.min(
    counts.reduce((a, b) => a + b, 0),
    limit ?? Number.POSITIVE_INFINITY,
  );
  if (total === 0)
    throw new InputError(
      `${dir} holds no latents: every image of its encode was skipped as unreadable; run that diffit encode again without --skip-bad to see why`,
    );
  if (total * c * h * w * 4 > LIMITS.latentDatasetBytes)
    throw new InputError(
      `${dir}: ${total} latents of [${c}, ${h}, ${w}] are ${formatBytes(total * c * h * w * 4)}, more than the ${formatBytes(LIMITS.latentDatasetBytes)} diffit holds in memory for training; train on a part of them (--limit), or encode fewer images`,
    );
  return readAll(paths, info, total);
}

/** Reads the first `total` samples of the shards into one channels-last array. */
function readAll(paths: string[], info: LatentDatasetInfo, total: number): Dataset {
  const [c, h, w] = info.latentShape;
  const per = c * h * w;
  const images = new Float32Array(total * per);
  const labels = new Int32Array(total);
  let at = 0;
  let skipped = 0;
  for (const path of paths) {
    if (at >= total) break;
    const shard = readLatentShard(path);
    const n = Math.min(shard.count, total - at);
    images.set(nchwToNhwc(shard.latents.subarray(0, n * per), n, h, w, c), at * per);
    labels.set(shard.labels.subarray(0, n), at);
    skipped += shard.place.skipped;
    at += n;
  }
  return {
    images,
    labels,
    count: total,
    size: h,
    channels: c,
    classNames: info.classNames,
    skipped,
    latents: info,
  };
}
