// From a folder of images and a VAE in ONNX to a trained latent DiffiT and decoded samples, with
// diffit commands alone: `encode` (the VAE built here, test/helpers/test-vae.ts), `train` of a
// small latent spec on both engines with grids decoded through the VAE decoder, an exact resume,
// and `sample` with DDPM and DDIM through the decoder. Then what `train` refuses of latent data,
// each with a message that names the file and the fix.
import { copyFileSync, readFileSync, rmSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { PNG } from "pngjs";
import { beforeAll, describe, expect, it } from "vitest";
import { buildGraph } from "../src/compiler/ir/build.ts";
import { runFrontEnd } from "../src/compiler/pipeline.ts";
import { loadWeights } from "../src/runtime/checkpoint/model-checkpoint.ts";
import { shardName } from "../src/runtime/data/latent-shards.ts";
import { imageGrid } from "../src/runtime/images/png.ts";
import { decodeLatents } from "../src/runtime/onnx/vae-decoder.ts";
import { MetricsLog } from "../src/runtime/training/reporting.ts";
import { sampleGrid } from "../src/runtime/training/trainer.ts";
import { diffit, encodeWith, writeImageFolder, writeLatentSpec } from "./helpers/latent-fixtures.ts";
import { scratchDir } from "./helpers/temp.ts";
import { writeTestVae } from "./helpers/test-vae.ts";

const root = scratchDir("latent-training");
let images: string;
let spec: string;
let latents: string;
let vae: { encoder: string; decoder: string };

beforeAll(async () => {
  images = writeImageFolder(join(root, "images"), ["ants", "bees"], 4, 64);
  spec = writeLatentSpec(join(root, "spec.json"), 2);
  vae = writeTestVae(root);
  latents = join(root, "latents");
  const r = await encodeWith(vae.encoder, images, spec, latents, "--flip");
  if (r.code !== 0) throw new Error(r.err);
}, 60_000);

const train = (out: string, ...more: string[]) =>
  diffit(
    "train",
    spec,
    "--data",
    latents,
    "--batch",
    "4",
    "--seed",
    "7",
    "--sample-every",
    "0",
    "--no-progress",
    "-o",
    out,
    ...more,
  );

const png = (path: string) => PNG.sync.read(readFileSync(path));
const losses = (dir: string) => new MetricsLog(join(dir, "metrics.jsonl")).read().map((m) => m.loss);

describe("latent DiffiT from images to samples", () => {
  it.each(["onnx", "tfjs"])(
    "trains on the latents on the %s engine, its grid decoded through the VAE decoder",
    async (engine) => {
      const out = join(root, `train-${engine}`);
      const r = await train(
        out,
        "--engine",
        engine,
        "--steps",
        "3",
        "--sample-every",
        "3",
        "--sample-steps",
        "2",
        "--vae-decoder",
        vae.decoder,
      );
      expect(r.code, r.err).toBe(0);
      expect(r.err).toContain(
        `data: 16 latents (sample, with mirror images, × 0.18215) in 2 classes from ${latents}`,
      );
      // The grid the engine drew (a DDPM spec samples grids on tfjs), decoded one latent at a time
      // here: within a grey level of the PNG (batches of decodes may round differently).
      const entry = runFrontEnd(spec).entries[0];
      if (!entry) throw new Error("spec did not resolve");
      const ema = loadWeights(join(out, "ema.safetensors"), buildGraph(entry.spec)).weights;
      const g = sampleGrid(entry, ema, 2, 7);
      const d = await decodeLatents(vae.decoder, g.values, g.count, 8, 8, 4);
      const want = imageGrid(d.images, g.count, 64, 64, 3, g.columns);
      const got = png(join(out, "samples.png"));
      expect([got.width, got.height]).toEqual([8 * 66 + 2, 2 * 66 + 2]);
      let worst = 0;
      for (let i = 0; i < want.data.length; i++)
        worst = Math.max(worst, Math.abs((got.data[i] ?? 0) - (want.data[i] ?? 0)));
      expect(worst).toBeLessThanOrEqual(1);
    },
    120_000,
  );

  it("resumes exactly: 4 steps equal 2 + resume + 2", async () => {
    const [a, b] = [join(root, "straight"), join(root, "resumed")];
    expect((await train(a, "--steps", "4")).code).toBe(0);
    expect((await train(b, "--steps", "2")).code).toBe(0);
    const r = await train(b, "--steps", "4", "--resume");
    expect(r.code, r.err).toBe(0);
    expect(losses(b)).toEqual(losses(a));
    expect(readFileSync(join(b, "ema.safetensors")).equals(readFileSync(join(a, "ema.safetensors")))).toBe(
      true,
    );
  }, 120_000);

  it.each(["ddpm", "ddim"])(
    "samples with %s through the VAE decoder to a PNG of images",
    async (sampler) => {
      const out = join(root, `${sampler}.png`);
      const ema = join(root, "train-onnx", "ema.safetensors");
      const r = await diffit(
        "sample",
        spec,
        "--checkpoint",
        ema,
        "--sampler",
        sampler,
        "--steps",
        "3",
        "--per-class",
        "2",
        "--vae-decoder",
        vae.decoder,
        "-o",
        out,
        "--json",
      );
      expect(r.code, r.err).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ decoded: true, samples: 4 });
      const p = png(out);
      expect([p.width, p.height]).toEqual([2 * 66 + 2, 2 * 66 + 2]); // 2 classes × 2 decoded 64² images
    },
    60_000,
  );
});

describe("what diffit train refuses of latent data", () => {
  it("an image folder for a latent spec, naming diffit encode", async () => {
    const r = await diffit("train", spec, "--data", images, "-o", join(root, "x"), "--no-progress");
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${images} holds images, but latent-test is a latent spec`);
    expect(r.err).toContain(
      `diffit encode --vae-encoder <encoder.onnx> --data ${images} --spec ${spec} -o <latents>`,
    );
  });

  it("--flip on a latent spec, and --vae-decoder or a latent dataset for an image-space spec", async () => {
    const flip = await train(join(root, "x"), "--flip");
    expect(flip.code).toBe(2);
    expect(flip.err).toContain("Encode with `diffit encode --flip`");
    const decoder = await diffit(
      "train",
      "specs/tiny-fmnist.json",
      "--vae-decoder",
      vae.decoder,
      "-o",
      join(root, "x"),
    );
    expect(decoder.code).toBe(2);
    expect(decoder.err).toContain("--vae-decoder decodes latents; tiny-fmnist is an image-space spec");
    const image = await diffit(
      "train",
      "specs/tiny-fmnist.json",
      "--data",
      latents,
      "-o",
      join(root, "x"),
      "--no-progress",
    );
    expect(image.code).toBe(1);
    expect(image.err).toContain(`${latents} holds VAE latents (diffit encode), which latent specs train on`);
  });

  it("latents of another shape, or more classes than the spec embeds", async () => {
    const other = writeLatentSpec(join(root, "spec-4.json"), 2, 4);
    const shape = await diffit("train", other, "--data", latents, "-o", join(root, "x"), "--no-progress");
    expect(shape.code).toBe(1);
    expect(shape.err).toContain(`${latents} holds [4, 8, 8] latents but spec latent-test takes [4, 4, 4]`);
    const one = writeLatentSpec(join(root, "spec-1.json"), 1);
    const classes = await diffit("train", one, "--data", latents, "-o", join(root, "x"), "--no-progress");
    expect(classes.code).toBe(1);
    expect(classes.err).toContain("holds 2 classes but spec latent-test embeds 1 (conditioning.classes)");
  });

  it("an incomplete dataset, a damaged shard, and shards of two encodes", async () => {
    const dir = join(root, "sharded");
    const encode = (out: string, ...more: string[]) =>
      encodeWith(vae.encoder, images, spec, out, "--shard-size", "2", ...more);
    expect((await encode(dir)).code).toBe(0);
    // The last --data given is the one train reads.
    const load = (data: string) => train(join(root, "x"), "--steps", "1", "--data", data);
    rmSync(join(dir, shardName(2)));
    const missing = await load(dir);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain(`${dir} is incomplete: shard(s) 2 of 4 are missing`);
    expect(missing.err).toContain("run the same `diffit encode` again to finish it");

    const other = join(root, "sharded-other");
    expect((await encode(other, "--seed", "9")).code).toBe(0);
    copyFileSync(join(other, shardName(2)), join(dir, shardName(2)));
    const mixed = await load(dir);
    expect(mixed.code).toBe(1);
    expect(mixed.err).toContain(
      `${join(dir, shardName(2))} is not of the dataset of ${join(dir, shardName(0))}: --seed 9 (the folder's: 0)`,
    );

    truncateSync(join(other, shardName(1)), 100);
    const damaged = await load(other);
    expect(damaged.code).toBe(1);
    expect(damaged.err).toContain(join(other, shardName(1)));
    expect(damaged.err).toContain("delete it and run the same `diffit encode` again");
    expect(damaged.err).not.toMatch(/\n\s+at /);
  }, 60_000);
});
