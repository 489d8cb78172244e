// `diffit encode` on a VAE built here (test/helpers/test-vae.ts) and a folder of 64² PNGs, checked
// against the encoder run directly in onnxruntime on the same pixels: the latents it stores are
// the encoder's mean (or a seeded draw from its distribution) × the scale, with labels, class
// names and the encoder's digest; mirror images follow their images; the three output
// conventions agree; an encoder of other latents is refused naming both shapes; and a rerun
// continues shard by shard, writing the bytes an uninterrupted run writes.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { loadLatentDataset } from "../src/runtime/data/latent-dataset.ts";
import { readLatentShard, shardName } from "../src/runtime/data/latent-shards.ts";
import { LOCK_FILE } from "../src/runtime/output-lock.ts";
import { lockHolder, sandbox, startCli, waitFor } from "./helpers/cli-process.ts";
import {
  diffit,
  encodeWith,
  patternRgba,
  writeImageFolder,
  writeLatentSpec,
} from "./helpers/latent-fixtures.ts";
import { scratchDir } from "./helpers/temp.ts";
import { writeTestVae } from "./helpers/test-vae.ts";

const root = scratchDir("encode");
const SIZE = 64;
const CLASSES = ["ants", "bees"];
const PER_CLASS = 3;
const SCALE = 0.18215;
let images: string;
let spec: string;
let vae: { encoder: string; decoder: string };

beforeAll(() => {
  images = writeImageFolder(join(root, "images"), CLASSES, PER_CLASS, SIZE);
  spec = writeLatentSpec(join(root, "spec.json"), 2);
  vae = writeTestVae(root);
});

/** Image `i` of the folder (in class, then file order) as [1, 3, 64, 64] in [−1, 1]. */
function pixels(i: number, mirrored = false): Float32Array {
  const rgba = patternRgba(Math.floor(i / PER_CLASS), i % PER_CLASS, SIZE);
  const out = new Float32Array(3 * SIZE * SIZE);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < SIZE; y++)
      for (let x = 0; x < SIZE; x++) {
        const from = mirrored ? SIZE - 1 - x : x;
        out[(c * SIZE + y) * SIZE + x] = ((rgba[4 * (y * SIZE + from) + c] ?? 0) / 255) * 2 - 1;
      }
  return out;
}

/** The encoder's outputs for image `i`, run directly. */
async function direct(file: string, i: number, mirrored = false): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(file);
  try {
    const r = await session.run({
      sample: new ort.Tensor("float32", pixels(i, mirrored), [1, 3, SIZE, SIZE]),
    });
    return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await session.release();
  }
}

/** Every sample of a dataset folder, in order. */
function samples(dir: string, shards: number) {
  const all = Array.from({ length: shards }, (_, k) => readLatentShard(join(dir, shardName(k))));
  const per = 4 * 8 * 8;
  const latents = all.flatMap((s) =>
    Array.from({ length: s.count }, (_, j) => s.latents.subarray(j * per, (j + 1) * per)),
  );
  return { shards: all, latents, labels: all.flatMap((s) => [...s.labels]) };
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return worst;
};

const encode = (out: string, ...more: string[]) => encodeWith(vae.encoder, images, spec, out, ...more);

// onnxruntime may sum a batch of 4 in another order than a batch of 1: float32 rounding of
// latents of size ~1 (× 0.18) stays below 1e-6; 1e-5 fails on any real difference.
const TOLERANCE = 1e-5;

describe("diffit encode", () => {
  it("stores the encoder's mean × the scale, labels, class names and the encoder's digest", async () => {
    const out = join(root, "mean");
    const r = await encode(out, "--mean", "--shard-size", "4", "--batch", "4");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("2 shard(s) of [4, 8, 8] latents × 0.18215 (mean) of 6 image(s) in 2 class(es)");
    const { shards, latents, labels } = samples(out, 2);
    expect(shards.map((s) => s.count)).toEqual([4, 2]);
    expect(labels).toEqual([0, 0, 0, 1, 1, 1]);
    const info = shards[0]?.info;
    expect(info?.classNames).toEqual(CLASSES);
    expect(info?.encoderSha256).toBe(createHash("sha256").update(readFileSync(vae.encoder)).digest("hex"));
    expect(info?.latent).toBe("mean");
    for (let i = 0; i < 6; i++) {
      const { mean = new Float32Array() } = await direct(vae.encoder, i);
      expect(
        maxDiff(
          latents[i] ?? [],
          mean.map((v) => v * SCALE),
        ),
      ).toBeLessThan(TOLERANCE);
    }
  });

  it("draws mean + exp(logvar / 2)·ε with a seeded generator, the same for the same seed", async () => {
    const a = await encode(join(root, "draw-a"), "--seed", "3");
    const b = await encode(join(root, "draw-b"), "--seed", "3", "--batch", "1");
    const c = await encode(join(root, "draw-c"), "--seed", "4");
    expect([a.code, b.code, c.code]).toEqual([0, 0, 0]);
    const shard = (d: string) => readFileSync(join(root, d, shardName(0)));
    expect(shard("draw-a").equals(shard("draw-b"))).toBe(true);
    expect(shard("draw-a").equals(shard("draw-c"))).toBe(false);
    // The standardised draws ε = (z / scale − mean) / std of 6 × 256 values: mean within 0.1 of
    // 0 and standard deviation within 0.1 of 1 (their standard errors are 0.026 and 0.018).
    const { latents } = samples(join(root, "draw-a"), 1);
    const eps: number[] = [];
    for (let i = 0; i < 6; i++) {
      const { mean = new Float32Array(), logvar = new Float32Array() } = await direct(vae.encoder, i);
      latents[i]?.forEach((z, j) => {
        eps.push((z / SCALE - (mean[j] ?? 0)) / Math.exp(0.5 * (logvar[j] ?? 0)));
      });
    }
    const m = eps.reduce((s, v) => s + v, 0) / eps.length;
    const sd = Math.sqrt(eps.reduce((s, v) => s + (v - m) ** 2, 0) / eps.length);
    expect(Math.abs(m)).toBeLessThan(0.1);
    expect(Math.abs(sd - 1)).toBeLessThan(0.1);
  });

  it("reads the 8-channel moments convention as the mean/log-variance one, and stores a plain encoder's output as it is", async () => {
    const moments = writeTestVae(root, { interface: "moments" }, "-moments");
    const plain = writeTestVae(root, { interface: "latent" }, "-plain");
    const runs = [
      ["two", vae.encoder],
      ["moments", moments.encoder],
      ["plain", plain.encoder],
    ] as const;
    for (const [tag, encoder] of runs) {
      const r = await encodeWith(encoder, images, spec, join(root, tag), "--seed", "1");
      expect(r.code, r.err).toBe(0);
    }
    const two = samples(join(root, "two"), 1);
    expect(samples(join(root, "moments"), 1).latents).toEqual(two.latents);
    const asIs = samples(join(root, "plain"), 1);
    expect(asIs.shards[0]?.info.latent).toBe("direct");
    const mean = samples(join(root, "mean"), 2).latents;
    asIs.latents.forEach((z, i) => {
      expect(maxDiff(z, mean[i] ?? [])).toBeLessThan(TOLERANCE);
    });
  });

  it("--flip follows each image with the latents of its mirror image", async () => {
    const out = join(root, "flip");
    expect((await encode(out, "--mean", "--flip", "--batch", "3")).code).toBe(0);
    const { shards, latents, labels } = samples(out, 1);
    expect(shards[0]?.info.flip).toBe(true);
    expect(labels).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    for (let i = 0; i < 6; i++) {
      const { mean = new Float32Array() } = await direct(vae.encoder, i, true);
      expect(
        maxDiff(
          latents[2 * i + 1] ?? [],
          mean.map((v) => v * SCALE),
        ),
      ).toBeLessThan(TOLERANCE);
    }
  });

  it("refuses an encoder whose latents do not fit the spec, naming both shapes, before writing anything", async () => {
    const three = writeTestVae(root, { channels: 3 }, "-3ch");
    const out = join(root, "refused");
    const declared = await encodeWith(three.encoder, images, spec, out);
    expect(declared.code).toBe(1);
    expect(declared.err).toContain(
      "returns mean [N, 3, h, w], but spec latent-test takes [N, 4, 8, 8] latents",
    );
    const small = await encode(out, "--image-size", "32");
    expect(small.code).toBe(1);
    expect(small.err).toContain(
      "turns [1, 3, 32, 32] images into mean [1, 4, 4, 4], but spec latent-test takes [N, 4, 8, 8] latents",
    );
    expect(small.err).not.toMatch(/\n\s+at /); // no stack trace
    expect(() => readFileSync(join(out, shardName(0)))).toThrow();
  });

  it("continues after the shards already written, as an uninterrupted run would, whatever the batch", async () => {
    const out = join(root, "resume");
    expect((await encode(out, "--shard-size", "2")).code).toBe(0);
    const whole = [0, 1, 2].map((k) => readFileSync(join(out, shardName(k))));
    rmSync(join(out, shardName(1)));
    rmSync(join(out, shardName(2)));
    const again = await encode(out, "--shard-size", "2", "--batch", "1");
    expect(again.code, again.err).toBe(0);
    expect(again.err).toContain(`resuming: 1 of 3 shard(s) already in ${out}`);
    expect(again.out).toContain("2 shard(s) and 4 sample(s) written by this run, 1 by an earlier one");
    [0, 1, 2].forEach((k) => {
      expect(readFileSync(join(out, shardName(k))).equals(whole[k] ?? Buffer.alloc(0))).toBe(true);
    });
  });

  it("refuses to continue with other settings, naming them; --force starts over", async () => {
    const out = join(root, "resume");
    const other = await encode(out, "--shard-size", "2", "--seed", "5", "--flip");
    expect(other.code).toBe(2);
    expect(other.err).toContain(
      "holds shards of an encode with other settings: --seed 5 (the folder's: 0), --flip true (the folder's: false)",
    );
    expect(other.err).toContain("--force");
    const forced = await encode(out, "--shard-size", "2", "--seed", "5", "--force");
    expect(forced.code, forced.err).toBe(0);
    expect(forced.err).toContain("--force: removed the 3 shard(s) of an earlier encode");
    expect(samples(out, 3).shards[0]?.info.seed).toBe(5);
  });

  it("stops at an unreadable image, naming it; --skip-bad skips it (and its mirror image) and counts it", async () => {
    const broken = writeImageFolder(join(root, "broken"), CLASSES, 2, SIZE);
    writeFileSync(join(broken, "bees", "0.png"), "not a png");
    const stopped = await encodeWith(vae.encoder, broken, spec, join(root, "broken-out"));
    expect(stopped.code).toBe(1);
    expect(stopped.err).toContain(join(broken, "bees", "0.png"));
    expect(stopped.err).toContain("--skip-bad");
    const out = join(root, "skipped");
    const r = await encodeWith(vae.encoder, broken, spec, out, "--skip-bad", "--flip", "--shard-size", "2");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("1 unreadable image(s) skipped");
    const { shards, labels } = samples(out, 2);
    expect(shards.map((s) => [s.count, s.place.skipped])).toEqual([
      [4, 0],
      [2, 1],
    ]);
    expect(labels).toEqual([0, 0, 0, 0, 1, 1]);
  });

  it("refuses an image-space spec, and a latent dataset as its input", async () => {
    const image = await encodeWith(vae.encoder, images, "specs/tiny-fmnist.json", join(root, "x"));
    expect(image.code).toBe(2);
    expect(image.err).toContain("is an image-space spec");
    const twice = await encodeWith(vae.encoder, join(root, "mean"), spec, join(root, "x"));
    expect(twice.code).toBe(1);
    expect(twice.err).toContain("holds latents already");
  });
});

describe("diffit encode as a process", () => {
  const { root: sandboxRoot, trainers: pids } = sandbox("diffit-encode-process-");

  it("holds its folder against a second encode, stops on SIGTERM keeping whole shards, and a rerun finishes", {
    timeout: 240_000,
  }, async () => {
    const out = join(sandboxRoot, "fmnist");
    // 5000 grey Fashion-MNIST images (IDX) at 64², 25 a shard: seconds of work, stopped early.
    const args = [
      "encode",
      "--vae-encoder",
      vae.encoder,
      "--data",
      "data/fashion-mnist",
      "--spec",
      writeLatentSpec(join(sandboxRoot, "spec10.json"), 10),
      "-o",
      out,
      "--limit",
      "5000",
      "--shard-size",
      "25",
      "--no-progress",
    ];
    const run = startCli(args);
    pids.push(await waitFor("the encoder's lock", () => lockHolder(out)?.pid));
    await waitFor("the first shard", () => (existsSync(join(out, shardName(0))) ? true : undefined));
    const second = await diffit(...args);
    expect(second.code).toBe(2);
    expect(second.err).toContain(`${out} is in use by another diffit run`);
    run.child.kill("SIGTERM");
    expect(await run.exit, run.output()).toBe(0);
    expect(run.output()).toMatch(
      /stopped by SIGTERM: \d+ of 200 shard\(s\) are in .*; run the same command again/,
    );
    const left = readdirSync(out);
    expect(left).not.toContain(LOCK_FILE);
    expect(left.filter((f) => !/^latents-\d{5}\.safetensors$/.test(f))).toEqual([]);
    const kept = left.length;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(200);
    const rest = await diffit(...args);
    expect(rest.code, rest.err).toBe(0);
    expect(rest.err).toContain(`resuming: ${kept} of 200 shard(s)`);
    const data = loadLatentDataset(out, { name: "latent-test", channels: 4, size: 8, classes: 10 });
    expect(data.count).toBe(5000);
    expect(data.classNames).toHaveLength(10);
  });
});
