// The training loop: N steps straight equal N/2 + resume + N/2 (same losses, bit for bit), a
// non-finite loss stops without overwriting the last good checkpoint, a time budget stops with
// a checkpoint, and the outputs (state, EMA weights, metrics, curves, grids) are written.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildGraph } from "../src/compiler/ir/build.ts";
import { selectBackend } from "../src/runtime/backend.ts";
import { loadWeights } from "../src/runtime/checkpoint/model-checkpoint.ts";
import type { Dataset } from "../src/runtime/data/dataset.ts";
import { Rng } from "../src/runtime/random.ts";
import { settingChanges } from "../src/runtime/training/loop.ts";
import { type TrainOptions, train } from "../src/runtime/training/trainer.ts";
import { entryOf } from "./helpers/entry.ts";

// Every folder a test makes is under this one, removed at the end.
const root = mkdtempSync(join(tmpdir(), "diffit-trainer-tests-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

beforeAll(async () => {
  await selectBackend("wasm");
});

const entry = entryOf({
  family: "image",
  name: "t",
  input: { size: 8, channels: 1 },
  stages: [
    { channels: 8, depth: 1, windowSize: 4, heads: 2, mlpRatio: 2 },
    { channels: 8, depth: 1, windowSize: 4, heads: 2, mlpRatio: 2 },
  ],
  groupNormGroups: 4,
  time: { sinusoidDim: 8, tokenDim: 16 },
  conditioning: { classes: 3 },
  dropout: 0.1,
});

function toyData(count: number): Dataset {
  const rng = new Rng(5, "toy");
  const images = Float32Array.from({ length: count * 64 }, () => Math.tanh(rng.normal()));
  const labels = Int32Array.from({ length: count }, (_, i) => i % 3);
  return { images, labels, count, size: 8, channels: 1, classNames: ["a", "b", "c"], skipped: 0 };
}

const base = (outDir: string): TrainOptions => ({
  steps: 6,
  batchSize: 4,
  microBatch: 2,
  lr: 1e-3,
  warmupSteps: 2,
  gradClip: 1,
  emaDecay: 0.9,
  optimizer: "adamw",
  betas: [0.9, 0.999],
  weightDecay: 0.01,
  seed: 3,
  outDir,
  checkpointEvery: 3,
  sampleEvery: 0,
  sampleSteps: 2,
  resume: false,
  flip: true,
  progress: false,
});

const losses = (dir: string) =>
  readFileSync(join(dir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => (JSON.parse(l) as { loss: number }).loss);

describe("trainer", () => {
  const data = toyData(10); // 10 images, batch 4: epochs roll over mid-run

  it("resumes exactly: 6 steps equal 3 + resume + 3 (dropout, flips, label dropout, micro-batches, AdamW)", async () => {
    const a = mkdtempSync(join(root, "a-"));
    const b = mkdtempSync(join(root, "b-"));
    await train(entry, data, base(a));
    await train(entry, data, { ...base(b), steps: 3 });
    const resumed = await train(entry, data, { ...base(b), resume: true });
    expect(resumed.stepsRun).toBe(3);
    expect(losses(b)).toEqual(losses(a));
    const g = buildGraph(entry.spec);
    expect(loadWeights(join(b, "ema.safetensors"), g).weights).toEqual(
      loadWeights(join(a, "ema.safetensors"), g).weights,
    );
  }, 60_000);

  it("stops on a non-finite loss and keeps the last good checkpoint", async () => {
    const dir = mkdtempSync(join(root, "nan-"));
    await train(entry, data, { ...base(dir), steps: 3 });
    const before = readFileSync(join(dir, "state.safetensors"));
    const bad: Dataset = { ...data, images: data.images.map((v, i) => (i === 5 ? Number.NaN : v)) };
    const r = await train(entry, bad, { ...base(dir), resume: true });
    expect(r.stopped).toBe("non-finite-loss");
    expect(r.message).toMatch(/last good checkpoint \(step 3\)/);
    expect(readFileSync(join(dir, "state.safetensors")).equals(before)).toBe(true);
  }, 60_000);

  it("says when a resume runs under other settings than the state was trained with", async () => {
    const dir = mkdtempSync(join(root, "settings-"));
    await train(entry, data, { ...base(dir), steps: 2 });
    const same: string[] = [];
    await train(entry, data, { ...base(dir), steps: 3, resume: true, log: (l) => same.push(l) });
    expect(same).toEqual([]);
    const other: string[] = [];
    await train(entry, data, {
      ...base(dir),
      steps: 4,
      batchSize: 2,
      microBatch: 2,
      lr: 2e-3,
      resume: true,
      log: (l) => other.push(l),
    });
    expect(other).toEqual([
      "note: resuming with --batch 2 (was 4), --lr 0.002 (was 0.001); the run continues from step 3 but will not equal an uninterrupted one",
    ]);
  }, 60_000);

  it("names a micro-batch change only when the micro-batch did not just follow the batch", () => {
    const was = (microBatch: number) => JSON.stringify({ batchSize: 8, microBatch, lr: 1e-3 });
    const now = { batchSize: 16, microBatch: 16, lr: 1e-3 };
    expect(settingChanges(was(8), now)).toBe("--batch 16 (was 8)");
    expect(settingChanges(was(4), now)).toBe("--batch 16 (was 8), --micro-batch 16 (was 4)");
    expect(settingChanges(undefined, now)).toBe("");
  });

  it("refuses labels the spec's class table cannot embed, before writing anything", async () => {
    const dir = join(mkdtempSync(join(root, "labels-")), "out");
    const four: Dataset = {
      ...data,
      labels: data.labels.map((l, i) => (i === 7 ? 3 : l)),
      classNames: ["a", "b", "c", "d"],
    };
    await expect(train(entry, four, base(dir))).rejects.toThrow(
      "the data has 4 classes but spec t has conditioning.classes 3: label 3 (d) has no embedding",
    );
    expect(existsSync(dir)).toBe(false);
  });

  it("trains a DDPM latent spec with the hybrid loss (learned-range variance) and samples it", async () => {
    const latent = entryOf({
      family: "latent",
      name: "lat",
      input: { size: 8, channels: 1 },
      patchSize: 2,
      hidden: 16,
      depth: 1,
      heads: 2,
      conditioning: { classes: 3 },
      sampling: { steps: 4, guidance: { channels: [0] } },
    });
    const dir = mkdtempSync(join(root, "ddpm-"));
    const r = await train(latent, data, { ...base(dir), steps: 2, sampleEvery: 2 });
    expect(r.stopped).toBe("done");
    expect(losses(dir).every(Number.isFinite)).toBe(true);
    expect(existsSync(join(dir, "samples.png"))).toBe(true);
  }, 60_000);

  it("stops at a time budget with a checkpoint, and writes metrics, loss curve and a sample grid", async () => {
    const dir = mkdtempSync(join(root, "budget-"));
    const done = await train(entry, data, { ...base(dir), steps: 2, sampleEvery: 2 });
    expect(done.stopped).toBe("done");
    for (const f of ["state.safetensors", "ema.safetensors", "metrics.jsonl", "loss.png", "samples.png"]) {
      expect(existsSync(join(dir, f))).toBe(true);
    }
    const r = await train(entry, data, { ...base(dir), steps: 1000, resume: true, maxSeconds: 0 });
    expect(r.stopped).toBe("time-budget");
    expect(r.step).toBe(2);
  }, 60_000);
});
