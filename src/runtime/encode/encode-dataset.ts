// `diffit encode`'s work: a folder of images (or IDX files) through a VAE encoder on onnxruntime
// into a latent dataset (data/latent-shards.ts), batch by batch and shard by shard. Each shard is
// written atomically once whole, so a stop (Ctrl-C, SIGTERM, a crash) loses at most the shard in
// progress, and running the same command again continues after the shards already written. The
// draws of a shard come from a generator keyed by (seed, shard), in sample order, so a resumed
// run writes the shards an uninterrupted one would, whatever the batch size.
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import { basename, join } from "node:path";
import { InputError, UsageError } from "../../errors.ts";
import { readRegularFile } from "../../files.ts";
import { LIMITS } from "../../limits.ts";
import { writeFileAtomic } from "../checkpoint/safetensors.ts";
import { type ImageSource, openImageSource } from "../data/image-source.ts";
import type { LatentTarget } from "../data/latent-dataset.ts";
import {
  encodeLatentShard,
  identityChanges,
  type LatentDatasetInfo,
  readShardHeader,
  shardFiles,
  shardName,
} from "../data/latent-shards.ts";
import { nhwcToNchw } from "../onnx/layout.ts";
import { Rng } from "../random.ts";
import { type StopRequests, signalName, watchStopSignals } from "../signals.ts";
import { progressBar } from "../training/reporting.ts";
import { type EncoderOutput, openVaeEncoder, type VaeEncoder } from "./vae-encoder.ts";

export interface EncodeOptions {
  encoder: string;
  data: string;
  outDir: string;
  /** The spec's latents, and the classes it embeds. */
  spec: LatentTarget;
  imageSize: number;
  scale: number;
  /** Take the mean of the encoder's distribution instead of a draw from it. */
  mean: boolean;
  seed: number;
  flip: boolean;
  /** Source images per shard. */
  shardSize: number;
  /** Images per encoder run. */
  batch: number;
  limit?: number;
  skipBad: boolean;
  /** Remove the shards of an earlier encode in outDir first. */
  force: boolean;
  progress: boolean;
  log: (line: string) => void;
}

export interface EncodeResult {
  info: LatentDatasetInfo;
  /** Shards found written by an earlier run, and written by this one. */
  resumed: number;
  written: number;
  /** Samples written by this run (flipped copies included). */
  samples: number;
  skipped: number;
  stopped: "done" | "interrupted";
  message?: string;
}

/**
 * The latents of `out`, × scale: a draw mean + exp(logvar / 2)·ε with the log-variance clamped to
 * [−30, 20] (SD-VAE's DiagonalGaussianDistribution), or the mean.
 */
function toLatents(out: EncoderOutput, draw: Rng | undefined, scale: number): Float32Array {
  const { mean, logvar } = out;
  const z = new Float32Array(mean.length);
  for (let i = 0; i < mean.length; i++) {
    const m = mean[i] ?? 0;
    if (!draw || !logvar) z[i] = m * scale;
    else {
      const std = Math.exp(0.5 * Math.min(20, Math.max(-30, logvar[i] ?? 0)));
      z[i] = (m + std * draw.normal()) * scale;
    }
  }
  return z;
}

/** Writes the mirror image of the size×size×c image at `from` to `to` (channels last). */
function mirror(buf: Float32Array, from: number, to: number, size: number, c: number): void {
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      for (let k = 0; k < c; k++)
        buf[to + (y * size + x) * c + k] = buf[from + (y * size + size - 1 - x) * c + k] ?? 0;
}

function datasetInfo(o: EncodeOptions, encoder: VaeEncoder, source: ImageSource): LatentDatasetInfo {
  const bytes = readRegularFile(o.encoder, { what: "VAE encoder", maxBytes: LIMITS.onnxModelBytes });
  return {
    shards: Math.ceil(source.count / o.shardSize),
    images: source.count,
    shardSize: o.shardSize,
    latentShape: [o.spec.channels, o.spec.size, o.spec.size],
    imageSize: o.imageSize,
    scale: o.scale,
    latent: encoder.kind === "direct" ? "direct" : o.mean ? "mean" : "sample",
    seed: o.seed,
    flip: o.flip,
    classNames: source.classNames,
    encoder: basename(o.encoder),
    encoderSha256: createHash("sha256").update(bytes).digest("hex"),
    source: o.data,
    sourceSha256: source.digest,
  };
}

/** The shards an earlier run of this encode wrote into outDir (none after --force). */
function shardsDone(o: EncodeOptions, info: LatentDatasetInfo): Set<number> {
  const files = shardFiles(o.outDir);
  if (o.force) {
    for (const f of files.values()) rmSync(f, { force: true });
    if (files.size > 0)
      o.log(`--force: removed the ${files.size} shard(s) of an earlier encode in ${o.outDir}`);
    return new Set();
  }
  for (const file of files.values()) {
    const changes = identityChanges(info, readShardHeader(file).info);
    if (changes.length > 0)
      throw new UsageError(
        `${o.outDir} holds shards of an encode with other settings: ${changes.join(", ")}; run that encode's command to finish it, --force to encode anew into this folder, or another -o`,
      );
  }
  return new Set(files.keys());
}

interface Shard {
  latents: Float32Array;
  labels: Int32Array;
  skipped: number;
}

/** Encodes shard `k`; undefined when a stop signal came first (the partial shard is dropped). */
async function encodeShard(
  k: number,
  run: { o: EncodeOptions; info: LatentDatasetInfo; source: ImageSource; encoder: VaeEncoder },
  stop: StopRequests,
  advance: (images: number) => void,
): Promise<Shard | undefined> {
  const { o, info, source, encoder } = run;
  const first = k * o.shardSize;
  const end = Math.min(first + o.shardSize, source.count);
  const copies = o.flip ? 2 : 1;
  const per = o.imageSize * o.imageSize * encoder.imageChannels;
  const draw = info.latent === "sample" ? new Rng(o.seed, `encode/shard-${k}`) : undefined;
  const step = Math.max(1, Math.floor(o.batch / copies));
  const latents: Float32Array[] = [];
  const labels: number[] = [];
  let skipped = 0;
  for (let at = first; at < end; at += step) {
    if (stop.signal) return undefined;
    const images = new Float32Array(step * copies * per);
    let n = 0;
    for (let i = at; i < Math.min(at + step, end); i++) {
      try {
        source.read(i, images, n * per);
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        if (!o.skipBad) throw new InputError(`${e.message} (use --skip-bad to skip unreadable files)`);
        if (skipped++ === 0) o.log(`skipped ${source.name(i)}: ${e.message}`);
        continue;
      }
      if (o.flip) mirror(images, n * per, (n + 1) * per, o.imageSize, encoder.imageChannels);
      for (let c = 0; c < copies; c++) labels.push(source.labels[i] ?? 0);
      n += copies;
    }
    if (n > 0) {
      const nchw = nhwcToNchw(
        images.subarray(0, n * per),
        n,
        o.imageSize,
        o.imageSize,
        encoder.imageChannels,
      );
      latents.push(toLatents(await encoder.encode(nchw, n), draw, o.scale));
    }
    advance(Math.min(at + step, end) - at);
  }
  const all = new Float32Array(latents.reduce((a, b) => a + b.length, 0));
  let offset = 0;
  for (const l of latents) {
    all.set(l, offset);
    offset += l.length;
  }
  return { latents: all, labels: Int32Array.from(labels), skipped };
}

/** Encodes `o.data` into the latent dataset `o.outDir` (whose lock the caller holds). */
export async function encodeDataset(o: EncodeOptions): Promise<EncodeResult> {
  const encoder = await openVaeEncoder(o.encoder, o.spec, o.imageSize);
  try {
    const source = openImageSource(o.data, {
      size: o.imageSize,
      channels: encoder.imageChannels,
      limit: o.limit,
    });
    if (o.spec.classes > 0 && source.classNames.length > o.spec.classes)
      throw new InputError(
        `${o.data} holds ${source.classNames.length} classes but spec ${o.spec.name} embeds ${o.spec.classes} (conditioning.classes); set conditioning.classes to ${source.classNames.length}, or encode a folder of fewer classes`,
      );
    const info = datasetInfo(o, encoder, source);
    const done = shardsDone(o, info);
    if (done.size > 0) o.log(`resuming: ${done.size} of ${info.shards} shard(s) already in ${o.outDir}`);
    return await encodeShards(o, { o, info, source, encoder }, done);
  } finally {
    await encoder.release();
  }
}

async function encodeShards(
  o: EncodeOptions,
  run: { o: EncodeOptions; info: LatentDatasetInfo; source: ImageSource; encoder: VaeEncoder },
  done: Set<number>,
): Promise<EncodeResult> {
  const { info, source } = run;
  const imagesOf = (k: number) => Math.min(o.shardSize, source.count - k * o.shardSize);
  let images = [...done].reduce((a, k) => a + imagesOf(k), 0);
  const bar = progressBar(source.count, images, o.progress, "encode", false, "images");
  const started = performance.now();
  const startImages = images;
  const stop = watchStopSignals((signal) =>
    o.log(
      `${o.progress && process.stderr.isTTY ? "\n" : ""}${signalName(signal)}: stopping; the shard in progress is dropped, the written ones kept`,
    ),
  );
  let written = 0;
  let samples = 0;
  let skipped = 0;
  try {
    for (let k = 0; k < info.shards; k++) {
      if (done.has(k)) continue;
      const shard = await encodeShard(k, run, stop, (n) => {
        images += n;
        bar.update(images, Number.NaN, (images - startImages) / ((performance.now() - started) / 1000));
      });
      if (!shard) break;
      const place = { index: k, firstImage: k * o.shardSize, skipped: shard.skipped };
      writeFileAtomic(
        join(o.outDir, shardName(k)),
        encodeLatentShard(info, place, shard.latents, shard.labels),
      );
      written++;
      samples += shard.labels.length;
      skipped += shard.skipped;
    }
  } finally {
    bar.stop();
    stop.dispose();
  }
  const complete = done.size + written;
  const result = { info, resumed: done.size, written, samples, skipped };
  if (!stop.signal || complete === info.shards) return { ...result, stopped: "done" };
  return {
    ...result,
    stopped: "interrupted",
    message: `stopped by ${signalName(stop.signal)}: ${complete} of ${info.shards} shard(s) are in ${o.outDir}; run the same command again to encode the rest`,
  };
}
