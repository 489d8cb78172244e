// Hostile and broken latent datasets (the shards of `diffit encode`), given to `train --data` of
// the latent spec: damaged files, metadata missing or malformed key by key, tensors missing or of
// another dtype or shape, labels out of range, non-finite latents, shards missing, extra or of two
// encodes, sizes past the limits (sparse files), and special files. Each is refused with the
// shard or folder named before any training work; the valid dataset trains one step.
import { mkdirSync, writeFileSync } from "node:fs";
import { join as joinPath } from "node:path";
import {
  encodeSafetensors,
  float32Tensor,
  type StoredTensor,
} from "../../../src/runtime/checkpoint/safetensors.ts";
import {
  encodeLatentShard,
  type LatentDatasetInfo,
  type ShardPlace,
  shardMetadata,
  shardName,
} from "../../../src/runtime/data/latent-shards.ts";
import { Rng } from "../../../src/runtime/random.ts";
import type { CorpusCase } from "../corpus.ts";
import { type Fixtures, SPECIALS, sparse } from "./fixtures.ts";
import { join, split } from "./safetensors-bytes.ts";

const N = 4;
const PER = 4 * 8 * 8;
const SHA = "0".repeat(64);

const info = (over: Partial<LatentDatasetInfo> = {}): LatentDatasetInfo => ({
  shards: 1,
  images: N,
  shardSize: N,
  latentShape: [4, 8, 8],
  imageSize: 64,
  scale: 0.18215,
  latent: "sample",
  seed: 0,
  flip: false,
  classNames: ["a", "b", "c"],
  encoder: "vae-encoder.onnx",
  encoderSha256: SHA,
  source: "images",
  sourceSha256: SHA,
  ...over,
});
const place = (index = 0): ShardPlace => ({ index, firstImage: index * N, skipped: 0 });
const latents = (n = N) => {
  const rng = new Rng(2, "latents");
  return Float32Array.from({ length: n * PER }, () => rng.normal());
};
const labels = (n = N) => Int32Array.from({ length: n }, (_, i) => i % 3);
const valid = () => encodeLatentShard(info(), place(), latents(), labels());

/** A shard with `tensors` and the valid metadata, changed by `meta`. */
function shardOf(
  tensors: [string, StoredTensor][],
  meta: (m: Record<string, string>) => void = () => {},
): Buffer {
  const metadata = shardMetadata(info(), place());
  meta(metadata);
  return encodeSafetensors({ tensors: new Map(tensors), metadata });
}
const f32 = (n: number, shape: number[]) =>
  float32Tensor(
    latents(n).subarray(
      0,
      shape.reduce((a, b) => a * b, 1),
    ),
    shape,
  );
const i64 = (values: bigint[]): StoredTensor => ({
  dtype: "I64",
  shape: [values.length],
  bytes: new Uint8Array(BigInt64Array.from(values).buffer),
});
const labels64 = (n = N) => i64(Array.from({ length: n }, (_, i) => BigInt(i % 3)));

interface Folder {
  name: string;
  /** Fills the folder (which exists, empty); returns what the message must name. */
  fill: (dir: string) => string;
  says: RegExp;
}

/** One shard 0 of `bytes`. */
const one = (name: string, bytes: Uint8Array, says: RegExp): Folder => ({
  name,
  fill: (dir) => {
    const file = joinPath(dir, shardName(0));
    writeFileSync(file, bytes);
    return file;
  },
  says,
});

const KEYS = Object.keys(shardMetadata(info(), place()));

function metadataCases(): Folder[] {
  const cases: Folder[] = [];
  for (const key of KEYS)
    cases.push(
      one(
        `metadata ${key} missing`,
        shardOf(
          [
            ["latents", f32(N, [N, 4, 8, 8])],
            ["labels", labels64()],
          ],
          (m) => {
            delete m[key];
          },
        ),
        new RegExp(`metadata ${key} is missing`),
      ),
    );
  const bad: [string, string[]][] = [
    ["format", ["diffit-latents/2", "", "safetensors"]],
    ["shards", ["0", "-1", "1.5", "abc", "1e3", "100001", "", "01"]],
    ["images", ["-4", "x", "4.0"]],
    ["shard_size", ["0", "two"]],
    ["latent_shape", ["[4,8]", "not json", "[4,8,8.5]", "[0,8,8]", '{"c":4}', "[4,8,8,1]", "[4,8,1e9]"]],
    ["image_size", ["0", "-64"]],
    ["scale", ["0", "-1", "NaN", "Infinity", "x", ""]],
    ["latent", ["other", "MEAN"]],
    ["seed", ["-1", "s"]],
    ["flip", ["yes", "1", "TRUE"]],
    ["class_names", ["[]", "not json", "[1,2]", '"a"', "null"]],
    ["encoder_sha256", ["abc", "AB".repeat(32)]],
    ["source_sha256", [`${SHA}0`]],
    ["shard", ["1", "x"]],
    ["first_image", ["-1"]],
    ["skipped", ["many"]],
  ];
  for (const [key, values] of bad)
    for (const v of values)
      cases.push(
        one(
          `metadata ${key} ${JSON.stringify(v)}`,
          shardOf(
            [
              ["latents", f32(N, [N, 4, 8, 8])],
              ["labels", labels64()],
            ],
            (m) => {
              m[key] = v;
            },
          ),
          key === "shard" && v === "1" ? /says shard 1 of 1/ : new RegExp(`metadata ${key} `),
        ),
      );
  return cases;
}

function tensorCases(): Folder[] {
  const good = f32(N, [N, 4, 8, 8]);
  const says = /expected F32 \[n, 4, 8, 8\] and I64 \[n\]/;
  const f16: StoredTensor = { dtype: "F16", shape: [N, 4, 8, 8], bytes: new Uint8Array(N * PER * 2) };
  const i32: StoredTensor = { dtype: "I32", shape: [N], bytes: new Uint8Array(N * 4) };
  return [
    one("no latents tensor", shardOf([["labels", labels64()]]), /no latents tensor/),
    one("no labels tensor", shardOf([["latents", good]]), /no labels tensor/),
    one(
      "F16 latents",
      shardOf([
        ["latents", f16],
        ["labels", labels64()],
      ]),
      says,
    ),
    one(
      "I32 labels",
      shardOf([
        ["latents", good],
        ["labels", i32],
      ]),
      says,
    ),
    one(
      "latents of rank 3",
      shardOf([
        ["latents", f32(N, [N, 4, 64])],
        ["labels", labels64()],
      ]),
      says,
    ),
    one(
      "latents of 3 channels",
      shardOf([
        ["latents", f32(N, [N, 3, 8, 8])],
        ["labels", labels64()],
      ]),
      says,
    ),
    one(
      "latents 8×4",
      shardOf([
        ["latents", f32(N, [N, 4, 8, 4])],
        ["labels", labels64()],
      ]),
      says,
    ),
    one(
      "3 latents, 4 labels",
      shardOf([
        ["latents", f32(3, [3, 4, 8, 8])],
        ["labels", labels64()],
      ]),
      says,
    ),
    one(
      "labels [4, 1]",
      shardOf([
        ["latents", good],
        ["labels", { ...labels64(), shape: [N, 1] }],
      ]),
      says,
    ),
    one(
      "more samples than shard_size",
      shardOf([
        ["latents", f32(5, [5, 4, 8, 8])],
        ["labels", labels64(5)],
      ]),
      /5 samples, which is more than its 4 images/,
    ),
    one(
      "an odd count with flips",
      shardOf(
        [
          ["latents", f32(3, [3, 4, 8, 8])],
          ["labels", labels64(3)],
        ],
        (m) => {
          m.flip = "true";
        },
      ),
      /3 samples, which is odd or more than 2 × its 4 images/,
    ),
    one(
      "label −1",
      shardOf([
        ["latents", good],
        ["labels", i64([0n, -1n, 0n, 0n])],
      ]),
      /sample 1 has label -1, outside the 3 classes/,
    ),
    one(
      "label 3 of 3 classes",
      shardOf([
        ["latents", good],
        ["labels", i64([0n, 0n, 3n, 0n])],
      ]),
      /sample 2 has label 3/,
    ),
    one(
      "label 2^40",
      shardOf([
        ["latents", good],
        ["labels", i64([2n ** 40n, 0n, 0n, 0n])],
      ]),
      /label 1099511627776/,
    ),
    ...[Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY].map((v) => {
      const z = latents();
      z[77] = v;
      return one(
        `a latent ${v}`,
        encodeLatentShard(info(), place(), z, labels()),
        new RegExp(`latent value 77 is ${v}`),
      );
    }),
  ];
}

function damagedCases(): Folder[] {
  const bytes = valid();
  const raw = split(bytes);
  return [
    one("an empty file", new Uint8Array(0), /too short for the 8-byte header length/),
    one("4 bytes", bytes.subarray(0, 4), /too short/),
    one("truncated in its header", bytes.subarray(0, 100), /header length \d+ exceeds the file/),
    one("truncated in its data", bytes.subarray(0, bytes.length - 10), /do not fit the file's/),
    one("a header length of 2^60", join(raw.header, raw.data, 2n ** 60n), /header length/),
    one("a header that is not JSON", join("{not json", raw.data), /the header is not JSON/),
    one("a header that is an array", join([1], raw.data), /the header is an array/),
    one(
      "a PNG file",
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10, ...new Array(40).fill(0)]),
      /not a safetensors file/,
    ),
    one(
      "a weights checkpoint",
      shardOf([["x", f32(1, [1])]], (m) => {
        for (const k of Object.keys(m)) delete m[k];
      }),
      /metadata format is missing/,
    ),
  ];
}

/** Folders whose shards are each fine but do not make one dataset. */
function folderCases(): Folder[] {
  const put = (dir: string, k: number, over: Partial<LatentDatasetInfo> = {}) => {
    const file = joinPath(dir, shardName(k));
    writeFileSync(
      file,
      encodeLatentShard(info({ shards: 3, images: 3 * N, ...over }), place(k), latents(), labels()),
    );
    return file;
  };
  return [
    {
      name: "shard 0 missing",
      fill: (d) => {
        put(d, 1);
        return d;
      },
      says: /is incomplete: shard 0 is missing/,
    },
    {
      name: "shard 1 of 3 missing",
      fill: (d) => {
        put(d, 0);
        put(d, 2);
        return d;
      },
      says: /is incomplete: shard\(s\) 1 of 3 are missing/,
    },
    {
      name: "a shard past the dataset's",
      fill: (d) => {
        for (const k of [0, 1, 2]) put(d, k);
        writeFileSync(joinPath(d, shardName(3)), valid());
        return d;
      },
      says: /holds shard\(s\) 3 past the 3 of its dataset/,
    },
    {
      name: "a shard of another encode",
      fill: (d) => {
        put(d, 0);
        put(d, 2);
        return put(d, 1, { seed: 4 });
      },
      says: /is not of the dataset of .*: --seed 4 \(the folder's: 0\)/,
    },
    {
      name: "a shard renamed",
      fill: (d) => {
        const shard0 = encodeLatentShard(info({ shards: 2 }), place(0), latents(), labels());
        writeFileSync(joinPath(d, shardName(0)), shard0);
        writeFileSync(joinPath(d, shardName(1)), shard0);
        return joinPath(d, shardName(1));
      },
      says: /its metadata says shard 0 of 2/,
    },
    {
      name: "latents of another size than the spec's",
      fill: (d) => {
        const big = encodeLatentShard(info({ latentShape: [4, 16, 16] }), place(), latents(4 * N), labels());
        writeFileSync(joinPath(d, shardName(0)), big);
        return d;
      },
      says: /holds \[4, 16, 16\] latents but spec hostile-latent takes \[4, 8, 8\]/,
    },
    {
      name: "more classes than the spec embeds",
      fill: (d) => {
        const names = Array.from({ length: 11 }, (_, i) => `c${i}`);
        writeFileSync(
          joinPath(d, shardName(0)),
          encodeLatentShard(info({ classNames: names }), place(), latents(), labels()),
        );
        return d;
      },
      says: /holds 11 classes but spec hostile-latent embeds 10/,
    },
    {
      name: "every image skipped",
      fill: (d) => {
        writeFileSync(
          joinPath(d, shardName(0)),
          encodeLatentShard(info(), place(), new Float32Array(0), new Int32Array(0)),
        );
        return d;
      },
      says: /holds no latents: every image of its encode was skipped/,
    },
  ];
}

/**
 * A shard whose header declares `n` samples over a sparse hole of data (no disk used): the sizes
 * must be refused before the data is read.
 */
function sparseShard(name: string, n: number, says: RegExp, names: "file" | "folder"): Folder {
  return {
    name,
    fill: (dir) => {
      const file = joinPath(dir, shardName(0));
      const bytes = n * PER * 4;
      const header = {
        __metadata__: shardMetadata(info({ shardSize: n, images: n }), place()),
        latents: { dtype: "F32", shape: [n, 4, 8, 8], data_offsets: [0, bytes] },
        labels: { dtype: "I64", shape: [n], data_offsets: [bytes, bytes + 8 * n] },
      };
      const head = join(header, new Uint8Array(0));
      writeFileSync(file, head);
      sparse(file, head.length + bytes + 8 * n);
      return names === "file" ? file : dir;
    },
    says,
  };
}

function sizeCases(): Folder[] {
  const mi = 2 ** 20;
  return [
    sparseShard(
      "9 GiB of latents",
      9 * mi,
      /9 GiB, more than the 8 GiB diffit holds in memory for training; train on a part of them \(--limit\)/,
      "folder",
    ),
    sparseShard(
      "a 3 GiB shard",
      3 * mi,
      /more than the 2 GiB diffit reads as a latent shard; encode with a smaller --shard-size/,
      "file",
    ),
  ];
}

export function latentCases(fx: Fixtures): CorpusCase[] {
  const root = joinPath(fx.dir, "latent-cases");
  const out = joinPath(fx.dir, "out", "latent");
  const args = (data: string) => [
    "train",
    fx.latentSpec,
    "--data",
    data,
    ...["--steps", "1", "--batch", "2", "--engine", "tfjs", "--sample-every", "0"],
    ...["--no-progress", "--force", "--out", out],
  ];
  const cases: CorpusCase[] = [];
  const folders = [...metadataCases(), ...tensorCases(), ...damagedCases(), ...folderCases(), ...sizeCases()];
  folders.forEach((f, i) => {
    const dir = joinPath(root, `case-${i}`);
    mkdirSync(dir, { recursive: true });
    cases.push({ name: `latents: ${f.name}`, args: args(dir), exit: 1, expect: [f.fill(dir), f.says] });
  });
  for (const s of SPECIALS) {
    const dir = joinPath(root, `special-${cases.length}`);
    mkdirSync(dir, { recursive: true });
    const file = joinPath(dir, shardName(0));
    s.make(file);
    cases.push({ name: `latents: shard 0 is ${s.name}`, args: args(dir), exit: 1, expect: [file, s.says] });
  }
  const ok = joinPath(root, "valid");
  mkdirSync(ok, { recursive: true });
  writeFileSync(joinPath(ok, shardName(0)), valid());
  cases.push({
    name: "latents: a valid dataset",
    args: args(ok),
    exit: 0,
    expect: [/data: 4 latents \(sample, × 0\.18215\) in 3 classes/, /step 1 \(1 this run/],
  });
  return cases;
}
