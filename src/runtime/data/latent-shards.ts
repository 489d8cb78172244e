// One shard of a latent dataset, as `diffit encode` writes it and `diffit train` reads it
// (docs/latent-datasets.md): a safetensors file `latents-00000.safetensors` holding
//   latents  F32 [n, C, h, w]  VAE latents × scale (channels first, as PyTorch readers take them)
//   labels   I64 [n]           class indices into the metadata's class_names
// and string metadata: the dataset's identity (how it was encoded, from what), repeated in
// every shard, and the shard's own place. Shard k encodes source images [k·S, (k+1)·S) in order;
// with flips, samples 2j and 2j+1 are image j and its mirror image.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { InputError } from "../../errors.ts";
import { readRegularFile } from "../../files.ts";
import { formatBytes, LIMITS } from "../../limits.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  float32Tensor,
  readSafetensorsHeader,
  SafetensorsError,
  type SafetensorsFile,
  type StoredTensor,
} from "../checkpoint/safetensors.ts";

export const LATENT_FORMAT = "diffit-latents/1";

export const shardName = (index: number): string => `latents-${String(index).padStart(5, "0")}.safetensors`;
const SHARD_FILE = /^latents-(\d{5,})\.safetensors$/;

/** What every shard of one dataset records alike. */
export interface LatentDatasetInfo {
  shards: number;
  /** Source images the dataset encodes (unreadable ones skipped included). */
  images: number;
  /** Source images per shard (the last may hold fewer). */
  shardSize: number;
  /** [channels, height, width] of one latent. */
  latentShape: [number, number, number];
  /** Side of the square images the encoder was given. */
  imageSize: number;
  /** The factor the latents were multiplied by (SD-VAE: 0.18215). */
  scale: number;
  /** sample: drawn from the encoder's distribution; mean: its mean; direct: the encoder returns latents. */
  latent: "sample" | "mean" | "direct";
  /** Seed of the draws (latent "sample"). */
  seed: number;
  /** Whether each image is followed by its mirror image. */
  flip: boolean;
  classNames: string[];
  /** The encoder's file name, and the sha256 of its bytes. */
  encoder: string;
  encoderSha256: string;
  /** The --data path, and the sha256 of what it listed (names, labels and sizes; IDX bytes). */
  source: string;
  sourceSha256: string;
}

/** Where a shard sits in its dataset. */
export interface ShardPlace {
  index: number;
  /** Index of its first source image. */
  firstImage: number;
  /** Its source images skipped as unreadable (--skip-bad). */
  skipped: number;
}

export interface LatentShard {
  info: LatentDatasetInfo;
  place: ShardPlace;
  /** [count, C, h, w]. */
  latents: Float32Array;
  labels: Int32Array;
  count: number;
}

/** The shard files of `dir` by index (none when it is not a latent dataset). */
export function shardFiles(dir: string): Map<number, string> {
  const found = new Map<number, string>();
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return found;
  }
  for (const name of names) {
    const m = SHARD_FILE.exec(name);
    if (m) found.set(Number(m[1]), join(dir, name));
  }
  return found;
}

/** Whether `dir` holds shards of a latent dataset. */
export const isLatentFolder = (dir: string): boolean => shardFiles(dir).size > 0;

const count = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,14})$/, "not a whole number")
  .transform(Number);
const real = z
  .string()
  .transform(Number)
  .pipe(z.number({ error: "not a number" }).positive().finite());
const json = <T extends z.ZodType>(schema: T) =>
  z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message: "not JSON" });
        return z.NEVER;
      }
    })
    .pipe(schema);
const positive = z
  .number()
  .int()
  .positive()
  .max(LIMITS.inputSize * LIMITS.inputChannels);

const METADATA = z.object({
  format: z.literal(LATENT_FORMAT, { error: `not ${LATENT_FORMAT}` }),
  shards: count.pipe(z.number().min(1).max(LIMITS.latentShards)),
  images: count,
  shard_size: count.pipe(z.number().min(1)),
  latent_shape: json(z.tuple([positive, positive, positive])),
  image_size: count.pipe(z.number().min(1)),
  scale: real,
  latent: z.enum(["sample", "mean", "direct"]),
  seed: count,
  flip: z.enum(["true", "false"]).transform((v) => v === "true"),
  class_names: json(z.array(z.string()).min(1).max(LIMITS.classes)),
  encoder: z.string(),
  encoder_sha256: z.string().regex(/^[0-9a-f]{64}$/, "not a sha256"),
  source: z.string(),
  source_sha256: z.string().regex(/^[0-9a-f]{64}$/, "not a sha256"),
  shard: count,
  first_image: count,
  skipped: count,
});

export function shardMetadata(info: LatentDatasetInfo, place: ShardPlace): Record<string, string> {
  return {
    format: LATENT_FORMAT,
    shards: String(info.shards),
    images: String(info.images),
    shard_size: String(info.shardSize),
    latent_shape: JSON.stringify(info.latentShape),
    image_size: String(info.imageSize),
    scale: String(info.scale),
    latent: info.latent,
    seed: String(info.seed),
    flip: String(info.flip),
    class_names: JSON.stringify(info.classNames),
    encoder: info.encoder,
    encoder_sha256: info.encoderSha256,
    source: info.source,
    source_sha256: info.sourceSha256,
    shard: String(place.index),
    first_image: String(place.firstImage),
    skipped: String(place.skipped),
  };
}

const FIX = "delete it and run the same `diffit encode` again to encode that shard anew";

function parseMetadata(
  metadata: Record<string, string>,
  file: string,
): { info: LatentDatasetInfo; place: ShardPlace } {
  const r = METADATA.safeParse(metadata);
  if (!r.success) {
    const issue = r.error.issues[0];
    const key = String(issue?.path[0] ?? "");
    throw new InputError(
      `${file}: metadata ${key} ${key in metadata ? `${JSON.stringify(metadata[key])}: ${issue?.message}` : "is missing"}; not a shard of diffit encode (${LATENT_FORMAT}), or a damaged one: ${FIX}`,
    );
  }
  const m = r.data;
  const info: LatentDatasetInfo = {
    shards: m.shards,
    images: m.images,
    shardSize: m.shard_size,
    latentShape: m.latent_shape,
    imageSize: m.image_size,
    scale: m.scale,
    latent: m.latent,
    seed: m.seed,
    flip: m.flip,
    classNames: m.class_names,
    encoder: m.encoder,
    encoderSha256: m.encoder_sha256,
    source: m.source,
    sourceSha256: m.source_sha256,
  };
  const place = { index: m.shard, firstImage: m.first_image, skipped: m.skipped };
  const index = Number(SHARD_FILE.exec(file.split(/[\\/]/).pop() ?? "")?.[1]);
  if (place.index !== index || place.index >= info.shards)
    throw new InputError(
      `${file}: its metadata says shard ${place.index} of ${info.shards}; a shard renamed or from another dataset? ${FIX}`,
    );
  return { info, place };
}

/**
 * The dataset identity, place and sample count of a shard, from its header alone (its data is not
 * read; readLatentShard checks the tensors).
 */
export function readShardHeader(file: string): { info: LatentDatasetInfo; place: ShardPlace; count: number } {
  const header = shardError(() => readSafetensorsHeader(file, "latent shard"));
  const { info, place } = parseMetadata(header.metadata, file);
  return { info, place, count: shardTensors(header.tensors, info, file).n };
}

/**
 * `read()`, its safetensors errors given the fix for a shard instead of a checkpoint's (their
 * messages are "file: problem; fix").
 */
function shardError<T>(read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof SafetensorsError) throw new InputError(`${e.message.split("; ")[0]}; ${FIX}`);
    throw e;
  }
}

/** How two identities differ, per setting, as `name now (before)`; [] when they are one dataset. */
export function identityChanges(now: LatentDatasetInfo, before: LatentDatasetInfo): string[] {
  const settings: [string, (i: LatentDatasetInfo) => unknown][] = [
    ["--vae-encoder (sha256)", (i) => i.encoderSha256.slice(0, 12)],
    ["the images of --data (sha256 of their names and sizes)", (i) => i.sourceSha256.slice(0, 12)],
    ["--image-size", (i) => i.imageSize],
    ["--scale", (i) => i.scale],
    ["latents (--mean)", (i) => i.latent],
    ["--seed", (i) => i.seed],
    ["--flip", (i) => i.flip],
    ["--shard-size", (i) => i.shardSize],
    ["the spec's latent shape", (i) => JSON.stringify(i.latentShape)],
    ["source images (--limit)", (i) => i.images],
  ];
  return settings
    .filter(([, get]) => JSON.stringify(get(now)) !== JSON.stringify(get(before)))
    .map(([name, get]) => `${name} ${String(get(now))} (the folder's: ${String(get(before))})`);
}

/** A shard as safetensors bytes; `latents` is [count, C, h, w]. */
export function encodeLatentShard(
  info: LatentDatasetInfo,
  place: ShardPlace,
  latents: Float32Array,
  labels: Int32Array,
): Buffer {
  const n = labels.length;
  const file: SafetensorsFile = {
    tensors: new Map([
      ["latents", float32Tensor(latents, [n, ...info.latentShape])],
      [
        "labels",
        {
          dtype: "I64",
          shape: [n],
          bytes: new Uint8Array(BigInt64Array.from(labels, (l) => BigInt(l)).buffer),
        },
      ],
    ]),
    metadata: shardMetadata(info, place),
  };
  return encodeSafetensors(file);
}

/** The shard's tensors (with or without their data), checked against its metadata. */
function shardTensors<T extends Omit<StoredTensor, "bytes">>(
  tensors: ReadonlyMap<string, T>,
  info: LatentDatasetInfo,
  path: string,
): { latents: T; labels: T; n: number } {
  const latents = tensors.get("latents");
  const labels = tensors.get("labels");
  const [c, h, w] = info.latentShape;
  if (!latents || !labels)
    throw new InputError(`${path}: no ${latents ? "labels" : "latents"} tensor; ${FIX}`);
  const n = labels.shape[0] ?? 0;
  const shape = (s: number[]) => `[${s.join(", ")}]`;
  if (
    latents.dtype !== "F32" ||
    labels.dtype !== "I64" ||
    labels.shape.length !== 1 ||
    shape(latents.shape) !== shape([n, c, h, w])
  )
    throw new InputError(
      `${path}: latents ${latents.dtype} ${shape(latents.shape)} and labels ${labels.dtype} ${shape(labels.shape)}, expected F32 [n, ${c}, ${h}, ${w}] and I64 [n]; ${FIX}`,
    );
  if (n > info.shardSize * (info.flip ? 2 : 1) || (info.flip && n % 2 !== 0))
    throw new InputError(
      `${path}: ${n} samples, which ${info.flip ? "is odd or more than 2 ×" : "is more than"} its ${info.shardSize} images${info.flip ? " with flipped copies" : ""}; ${FIX}`,
    );
  return { latents, labels, n };
}

/** A whole shard, read and checked: metadata, tensor shapes and dtypes, labels, finite latents. */
export function readLatentShard(path: string): LatentShard {
  const bytes = readRegularFile(path, {
    what: "latent shard",
    maxBytes: LIMITS.latentShardBytes,
    hint: `encode with a smaller --shard-size (at most ${formatBytes(LIMITS.latentShardBytes)} a shard)`,
  });
  const file = shardError(() => decodeSafetensors(bytes, path));
  const { info, place } = parseMetadata(file.metadata, path);
  const t = shardTensors(file.tensors, info, path);
  const latents = new Float32Array(t.latents.bytes.byteLength / 4);
  new Uint8Array(latents.buffer).set(t.latents.bytes);
  const view = new DataView(t.labels.bytes.buffer, t.labels.bytes.byteOffset, t.labels.bytes.byteLength);
  const labels = new Int32Array(t.n);
  for (let i = 0; i < t.n; i++) {
    const l = view.getBigInt64(8 * i, true);
    if (l < 0n || l >= BigInt(info.classNames.length))
      throw new InputError(
        `${path}: sample ${i} has label ${l}, outside the ${info.classNames.length} classes of its class_names; ${FIX}`,
      );
    labels[i] = Number(l);
  }
  const bad = latents.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0)
    throw new InputError(
      `${path}: latent value ${bad} is ${latents[bad]}; the encoder overflowed on an image of this shard, or the file is damaged: ${FIX}`,
    );
  return { info, place, latents, labels, count: t.n };
}
