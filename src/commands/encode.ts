// `diffit encode`: images (class sub-folders, or IDX) through a VAE encoder in ONNX into a latent
// dataset that `diffit train` of a latent spec reads (docs/latent-datasets.md).
import type { Command } from "commander";
import { UsageError } from "../errors.ts";
import { encodeDataset } from "../runtime/encode/encode-dataset.ts";
import { SD_LATENT_SCALE } from "../runtime/onnx/vae-decoder.ts";
import { withOutputLock } from "../runtime/output-lock.ts";
import {
  type CommandContext,
  EXIT,
  loadOne,
  nonNegativeInt,
  positiveInt,
  positiveNumber,
} from "./context.ts";

interface EncodeFlags {
  vaeEncoder: string;
  data: string;
  spec: string;
  out: string;
  variant?: string;
  imageSize?: number;
  scale: number;
  mean?: boolean;
  seed: number;
  flip?: boolean;
  shardSize: number;
  batch: number;
  limit?: number;
  skipBad?: boolean;
  force?: boolean;
  progress: boolean;
  json?: boolean;
  typecheck: boolean;
}

export function registerEncode(program: Command, { io, setExit }: CommandContext): void {
  program
    .command("encode")
    .description(
      "encode images (class sub-folders of PNG/JPEG, or IDX) with a VAE encoder in ONNX into a latent dataset for a latent spec: safetensors shards of latents × scale (rerun to resume)",
    )
    .requiredOption(
      "--vae-encoder <onnx>",
      "the VAE's encoder: [N, 3, H, W] images in [-1, 1] → mean and log-variance (two outputs, or one of 2c channels) or latents",
    )
    .requiredOption("--data <path>", "folder of class sub-folders of PNG/JPEG images, or of IDX files")
    .requiredOption(
      "--spec <file>",
      "the latent spec to train: its input.channels and input.size are the latents'",
    )
    .requiredOption("-o, --out <dir>", "output folder of the latent dataset")
    .option("--variant <name>", "the variant, for specs with variants")
    .option(
      "--image-size <px>",
      "side of the square images given to the encoder, centre-cropped and resampled (default: 8 × input.size, SD-VAE's factor)",
      positiveInt("--image-size"),
    )
    .option("--scale <x>", "multiply the latents by this", positiveNumber("--scale"), SD_LATENT_SCALE)
    .option("--mean", "store the mean of the encoder's distribution instead of a draw from it")
    .option("--seed <n>", "seed of the draws", nonNegativeInt("--seed"), 0)
    .option("--flip", "also store each image's mirror image, as an extra sample (fast-DiT)")
    .option("--shard-size <n>", "images per shard", positiveInt("--shard-size"), 1024)
    .option("--batch <n>", "images per encoder run", positiveInt("--batch"), 8)
    .option("--limit <n>", "encode only the first n images", positiveInt("--limit"))
    .option("--skip-bad", "skip unreadable images (counted) instead of stopping")
    .option("--force", "delete the shards of an earlier encode in the output folder and start over")
    .option("--no-progress", "no progress bar")
    .option("--json", "print the result as JSON")
    .option("--no-typecheck", "skip the TypeScript checker on .ts specs")
    .action(async (o: EncodeFlags) => {
      const entry = loadOne(io, o.spec, o.typecheck, o.variant);
      const spec = entry.spec;
      if (spec.family !== "latent")
        throw new UsageError(
          `${entry.name} is an image-space spec (family "${spec.family}"): it trains on the images themselves (diffit train --data ${o.data}); encode makes latents for latent specs`,
        );
      const { size, channels } = spec.input;
      const result = await withOutputLock(o.out, { log: io.err }, () =>
        encodeDataset({
          encoder: o.vaeEncoder,
          data: o.data,
          outDir: o.out,
          spec: { name: entry.name, size, channels, classes: spec.conditioning.classes },
          imageSize: o.imageSize ?? 8 * size,
          scale: o.scale,
          mean: o.mean ?? false,
          seed: o.seed,
          flip: o.flip ?? false,
          shardSize: o.shardSize,
          batch: o.batch,
          ...(o.limit !== undefined ? { limit: o.limit } : {}),
          skipBad: o.skipBad ?? false,
          force: o.force ?? false,
          progress: o.progress && !o.json,
          log: io.err,
        }),
      );
      const { info } = result;
      if (o.json) io.out(JSON.stringify({ out: o.out, ...result }, null, 2));
      else
        io.out(
          [
            `${result.stopped === "done" ? "✓" : "■"} ${o.out}: ${info.shards} shard(s) of [${info.latentShape.join(", ")}] latents × ${info.scale} (${info.latent}${info.flip ? ", with mirror images" : ""}) of ${info.images} image(s) in ${info.classNames.length} class(es); ${result.written} shard(s) and ${result.samples} sample(s) written by this run${result.resumed ? `, ${result.resumed} by an earlier one` : ""}${result.skipped ? `, ${result.skipped} unreadable image(s) skipped` : ""}`,
            ...(result.stopped === "done"
              ? [
                  `  train on it: diffit train ${o.spec}${o.variant ? ` --variant ${o.variant}` : ""} --data ${o.out}`,
                ]
              : []),
          ].join("\n"),
        );
      if (result.message) io.err(result.message);
      setExit(EXIT.ok);
    });
}
