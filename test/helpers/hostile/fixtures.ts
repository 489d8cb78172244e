// The valid inputs the hostile-file corpus breaks, written into a temporary folder: two small
// specs (an 8×8 image model and an 8×8×4 latent one, both class-conditional), their weights, a
// training state, an exported ONNX file, an IDX data folder and an image folder. Every case of
// the corpus starts from one of these and changes one thing.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { PNG } from "pngjs";
import { buildGraph } from "../../../src/compiler/ir/build.ts";
import type { Graph } from "../../../src/compiler/ir/types.ts";
import { checkpointMetadata, encodeWeights } from "../../../src/runtime/checkpoint/model-checkpoint.ts";
import { initialValues } from "../../../src/runtime/init.ts";
import { exportOnnx } from "../../../src/runtime/onnx/export-model.ts";
import { Rng } from "../../../src/runtime/random.ts";
import { saveTrainStateArrays, type TrainProgress } from "../../../src/runtime/training/train-state.ts";
import { entryOf } from "../entry.ts";
import { smallImage, smallLatent } from "../small-specs.ts";

export interface Fixtures {
  dir: string;
  imageSpec: string;
  latentSpec: string;
  /** A 32×32×1 spec with 10 classes, as `eval` takes. */
  evalSpec: string;
  imageGraph: Graph;
  latentGraph: Graph;
  /** Valid weights of the image spec, as written by diffit. */
  weights: string;
  weightsBytes: Buffer;
  latentWeights: string;
  /** A valid training state of the image spec at step 1 (images: 8). */
  statePath: string;
  stateEntry: ReturnType<typeof entryOf>;
  onnx: string;
  onnxBytes: Uint8Array;
  /** A valid IDX folder of 8 images, 12×12. */
  idxDir: string;
  /** A valid image folder: two classes, two 6×6 PNGs each. */
  imagesDir: string;
  /** Writes `bytes` to `name` inside the fixture folder (sub-folders made) and returns the path. */
  put(name: string, bytes: Uint8Array | string): string;
}

export function weightsOf(graph: Graph, seed = 1): Map<string, Float32Array> {
  return new Map(graph.params.map((p) => [p.name, initialValues(p, seed)]));
}

export function idxBytes(dims: number[], data: Uint8Array | number[]): Uint8Array {
  const head = new Uint8Array(4 + 4 * dims.length);
  const view = new DataView(head.buffer);
  head.set([0, 0, 8, dims.length]);
  for (const [i, d] of dims.entries()) view.setUint32(4 + 4 * i, d);
  return new Uint8Array([...head, ...data]);
}

export function pngBytes(width: number, height: number, seed = 0): Buffer {
  const p = new PNG({ width, height });
  const rng = new Rng(seed, "png");
  for (let i = 0; i < p.data.length; i++) p.data[i] = i % 4 === 3 ? 255 : rng.int(256);
  return PNG.sync.write(p);
}

export const validProgress = (step = 1): TrainProgress => ({
  step,
  adamStep: step,
  rng: new Rng(3, "train").state(),
  data: { epoch: 0, position: 2 },
});

export function makeFixtures(dir: string): Fixtures {
  const put = (name: string, bytes: Uint8Array | string) => {
    const path = join(dir, name);
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, bytes);
    return path;
  };
  const imageValue = { ...smallImage("tmsa"), name: "hostile-image" };
  const latentValue = { ...smallLatent("tmsa"), name: "hostile-latent" };
  const imageSpec = put("image.json", JSON.stringify(imageValue));
  const latentSpec = put("latent.json", JSON.stringify(latentValue));
  const evalSpec = put(
    "eval.json",
    JSON.stringify({ ...imageValue, name: "hostile-eval", input: { size: 32, channels: 1 } }),
  );
  const stateEntry = entryOf(imageValue);
  const latentEntry = entryOf(latentValue);
  const imageGraph = buildGraph(stateEntry.spec);
  const latentGraph = buildGraph(latentEntry.spec);
  const weightsBytes = encodeWeights(weightsOf(imageGraph), imageGraph, checkpointMetadata(stateEntry));
  const weights = put("weights.safetensors", weightsBytes);
  const latentWeights = put(
    "latent.safetensors",
    encodeWeights(weightsOf(latentGraph), latentGraph, checkpointMetadata(latentEntry)),
  );
  mkdirSync(join(dir, "state"), { recursive: true });
  const statePath = join(dir, "state", "state.safetensors");
  const w = weightsOf(imageGraph);
  const arrays = new Map(
    imageGraph.params.map((p) => [p.name, { data: w.get(p.name) ?? new Float32Array(), shape: p.shape }]),
  );
  const trainable = new Map(
    [...arrays].filter(([name]) => imageGraph.params.find((p) => p.name === name)?.trainable),
  );
  const zeros = new Map(
    [...trainable].map(([n, a]) => [n, { data: new Float32Array(a.data.length), shape: a.shape }]),
  );
  saveTrainStateArrays(
    statePath,
    stateEntry,
    { model: arrays, ema: arrays, adamM: zeros, adamV: zeros },
    validProgress(),
    {
      settings: JSON.stringify({ batchSize: 2, images: 8 }),
    },
  );
  const onnx = join(dir, "model.onnx");
  exportOnnx(stateEntry, onnx, { opset: 17, fp16: false, denoiser: "raw", weights: w });
  const rng = new Rng(5, "idx");
  const idxDir = join(dir, "idx");
  const images = Uint8Array.from({ length: 8 * 12 * 12 }, () => rng.int(256));
  put("idx/train-images-idx3-ubyte.gz", gzipSync(idxBytes([8, 12, 12], images)));
  put("idx/train-labels-idx1-ubyte", idxBytes([8], [0, 1, 2, 3, 4, 5, 6, 7]));
  const imagesDir = join(dir, "images");
  for (const [k, name] of ["cats/a.png", "cats/b.png", "dogs/c.png", "dogs/d.png"].entries())
    put(`images/${name}`, pngBytes(6, 6, k));
  return {
    dir,
    imageSpec,
    latentSpec,
    evalSpec,
    imageGraph,
    latentGraph,
    weights,
    weightsBytes,
    latentWeights,
    statePath,
    stateEntry,
    onnx,
    onnxBytes: readFileSync(onnx),
    idxDir,
    imagesDir,
    put,
  };
}

/** One broken input: its bytes, or what makes its path into something else; what must be said. */
export interface Broken {
  name: string;
  bytes?: Uint8Array;
  make?: (path: string) => void;
  says: RegExp;
  /** Expected exit code (default 1). */
  exit?: number;
}

/** Puts a broken input at `rel` inside the fixture folder (its folder made) and returns the path. */
export function place(fx: Fixtures, rel: string, b: Broken): string {
  const path = join(fx.dir, rel);
  mkdirSync(join(path, ".."), { recursive: true });
  if (b.bytes) writeFileSync(path, b.bytes);
  else b.make?.(path);
  return path;
}

/**
 * `train` on the image spec, as cheap as a run gets (one step of batch 2 on 8 images, tfjs, no
 * grids), with `flags` saying what to read.
 */
export function quickTrain(fx: Fixtures, ...flags: string[]): string[] {
  return [
    "train",
    fx.imageSpec,
    ...flags,
    "--steps",
    "1",
    "--batch",
    "2",
    "--limit",
    "8",
    "--engine",
    "tfjs",
    "--sample-every",
    "0",
    "--no-progress",
  ];
}

/** A path that is not a regular file, and what a reader must say about it. */
export interface Special {
  name: string;
  make: (path: string) => void;
  says: RegExp;
}

/**
 * Things found where a file should be: each makes `path` into one (its folder must exist).
 * None may block, be read until memory runs out, or give a raw system error.
 */
export const SPECIALS: Special[] = [
  { name: "a directory", make: (p) => mkdirSync(p), says: /is a directory/ },
  { name: "a FIFO", make: (p) => execFileSync("mkfifo", [p]), says: /FIFO/ },
  { name: "a link to /dev/zero", make: (p) => symlinkSync("/dev/zero", p), says: /character device/ },
  { name: "a link to /dev/urandom", make: (p) => symlinkSync("/dev/urandom", p), says: /character device/ },
  { name: "a link to /dev/null", make: (p) => symlinkSync("/dev/null", p), says: /character device/ },
  { name: "a dangling link", make: (p) => symlinkSync(`${p}.nowhere`, p), says: /does not exist/ },
  { name: "a link loop", make: (p) => symlinkSync(p, p), says: /cannot read|too many symbolic links|ELOOP/i },
  { name: "a link to a directory", make: (p) => symlinkSync("/tmp", p), says: /is a directory/ },
];

/** A sparse file of `bytes` (no disk used): a size limit must refuse it before reading. */
export function sparse(path: string, bytes: number): void {
  execFileSync("truncate", ["-s", String(bytes), path]);
}
