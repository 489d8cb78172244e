// `diffit train --sweep`: every variant trains under the same budget and is evaluated; results are
// recorded per variant; a sweep stopped part-way and resumed (also with a larger step budget)
// ends with exactly the numbers of an uninterrupted one; other settings or stale states are refused.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli.ts";
import { analyze } from "../src/compiler/analysis.ts";
import { buildGraph } from "../src/compiler/ir/build.ts";
import { runFrontEnd } from "../src/compiler/pipeline.ts";
import { UsageError } from "../src/errors.ts";
import { selectBackend } from "../src/runtime/backend.ts";
import { loadData } from "../src/runtime/data/load-data.ts";
import { emaStaleness, runSweep, type SweepOptions } from "../src/runtime/sweep/run-sweep.ts";
import type { SweepResults } from "../src/runtime/sweep/sweep-results.ts";

// Every folder a test makes is under this one, removed at the end.
const root = mkdtempSync(join(tmpdir(), "diffit-sweep-tests-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const SWEEP = "test/fixtures/sweep/micro-sweep.json";
const entries = runFrontEnd(SWEEP).entries;
const data = loadData("data/fashion-mnist", { size: 32, channels: 1, split: "train", limit: 32 });
const cache = mkdtempSync(join(root, "sweep-cache-"));

beforeAll(async () => {
  await selectBackend("wasm");
});

function options(outDir: string, steps: number, over: Partial<SweepOptions> = {}): SweepOptions {
  return {
    sweep: SWEEP,
    outDir,
    dataPath: "data/fashion-mnist",
    train: {
      steps,
      batchSize: 4,
      microBatch: 4,
      lr: 1e-3,
      warmupSteps: 0,
      gradClip: 1,
      emaDecay: 0.9,
      optimizer: "adam",
      betas: [0.9, 0.999],
      weightDecay: 0,
      seed: 3,
      checkpointEvery: 100,
      sampleEvery: 0,
      sampleSteps: 2,
      flip: false,
      progress: false,
    },
    engine: "auto",
    // A small classifier keeps the test fast; its accuracy does not matter here, only that the
    // same weights give the same numbers.
    evaluation: {
      samples: 20,
      steps: 2,
      seed: 0,
      data: "data/fashion-mnist",
      cache,
      classifier: { epochs: 1, batchSize: 32, lr: 3e-3, seed: 0, trainLimit: 128, testLimit: 64 },
    },
    force: false,
    log: () => {},
    ...over,
  };
}

const strip = (r: SweepResults) =>
  r.variants.map(({ trainSeconds: _t, dir: _d, eval: ev, ...rest }) => ({
    ...rest,
    eval: ev && { classAccuracy: ev.classAccuracy, fid: ev.fid, kid: ev.kid, nfe: ev.nfe },
  }));

describe("train --sweep", () => {
  let straight: SweepResults;
  const straightDir = mkdtempSync(join(root, "sweep-"));

  it("trains and evaluates every variant under one budget, and writes JSON and Markdown", async () => {
    expect(entries.map((e) => e.settings)).toEqual([
      { "attention.mode": "tmsa" },
      { "attention.mode": "adaln" },
    ]);
    const r = await runSweep(entries, data, options(straightDir, 2));
    straight = r.results;
    expect(r.stopped).toBe("done");
    expect(r.results.variants.map((v) => v.name)).toEqual(entries.map((e) => e.name));
    for (const [i, v] of r.results.variants.entries()) {
      const spec = entries[i]?.spec;
      if (!spec) throw new Error("no spec");
      const totals = analyze(buildGraph(spec)).totals;
      expect(v).toMatchObject({
        step: 2,
        engine: "onnx",
        status: "done",
        params: totals.params,
        macs: totals.macs,
      });
      expect(Number.isFinite(v.finalLoss)).toBe(true);
      expect(v.eval?.nfe).toBe(3); // Heun with 2 steps: 2 + 1 evaluations
      expect(v.eval?.classAccuracy).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(v.eval?.fid ?? Number.NaN)).toBe(true);
      expect(existsSync(v.eval?.grid ?? "")).toBe(true);
    }
    // The variants differ (adaLN has more parameters), and so do their losses on the same batches.
    const [a, b] = r.results.variants;
    expect(b?.params).toBeGreaterThan(a?.params ?? 0);
    expect(b?.finalLoss).not.toBe(a?.finalLoss);
    const md = readFileSync(r.markdownPath, "utf8");
    expect(md).toContain("| variant | attention.mode | params |");
    expect(md).toContain("| micro-sweep[mode=adaln] | adaln |");
    expect(JSON.parse(readFileSync(r.jsonPath, "utf8"))).toEqual(JSON.parse(JSON.stringify(r.results)));
  });

  it("warns when the EMA of a short budget would still be mostly the initialisation", async () => {
    const lines: string[] = [];
    const dir = mkdtempSync(join(root, "sweep-"));
    const slow = { ...options("", 1).train, emaDecay: 0.999 };
    await runSweep(entries.slice(0, 1), data, options(dir, 1, { train: slow, log: (l) => lines.push(l) }));
    expect(lines.join("\n")).toMatch(
      /100 % of the evaluated EMA weights is still the initialisation.*pass --ema 0\.01 or lower/,
    );
    expect(emaStaleness(0.98, 200)).toBeLessThan(0.02);
  });

  it("a rerun of the same sweep skips recorded variants", async () => {
    const metrics = join(straight.variants[0]?.dir ?? "", "metrics.jsonl");
    const before = statSync(metrics).mtimeMs;
    const lines: string[] = [];
    const r = await runSweep(entries, data, options(straightDir, 2, { log: (l) => lines.push(l) }));
    expect(lines.filter((l) => l.includes("skipped"))).toHaveLength(2);
    expect(statSync(metrics).mtimeMs).toBe(before);
    expect(strip(r.results)).toEqual(strip(straight));
  });

  it("stopped by its time budget, then resumed with a larger step budget, it ends where a straight sweep does", async () => {
    const dir = mkdtempSync(join(root, "sweep-"));
    const stopped = await runSweep(entries, data, options(dir, 1, { maxSeconds: 0 }));
    expect(stopped.stopped).toBe("time-budget");
    expect(stopped.results.variants).toHaveLength(0);
    const one = await runSweep(entries, data, options(dir, 1));
    expect(one.results.variants.map((v) => v.step)).toEqual([1, 1]);
    const two = await runSweep(entries, data, options(dir, 2));
    expect(strip(two.results)).toEqual(strip(straight));
  });

  it("refuses other settings, a smaller budget, and states without a results file", async () => {
    await expect(
      runSweep(entries, data, options(straightDir, 2, { train: { ...options("", 2).train, lr: 2e-3 } })),
    ).rejects.toThrow(/other settings \(lr: 0\.001 then, 0\.002 now\)/);
    await expect(runSweep(entries, data, options(straightDir, 1))).rejects.toThrow(UsageError);
    const dir = mkdtempSync(join(root, "sweep-"));
    await runSweep(entries.slice(0, 1), data, options(dir, 1, { evaluation: null }));
    rmSync(join(dir, "sweep-results.json"));
    await expect(runSweep(entries, data, options(dir, 1, { evaluation: null }))).rejects.toThrow(
      /holds a training state but .*sweep-results\.json is missing/,
    );
    // --force starts over.
    const r = await runSweep(entries, data, options(dir, 1, { evaluation: null, force: true }));
    expect(r.results.variants).toHaveLength(2);
    expect(r.results.variants[0]?.eval).toBeUndefined();
  });

  it("CLI: a spec and --sweep together, or --resume with --sweep, are usage errors (exit 2)", async () => {
    const run = async (...args: string[]) => {
      const err: string[] = [];
      const code = await main(["node", "diffit", ...args], { out: () => {}, err: (t) => err.push(t) });
      return { code, err: err.join("") };
    };
    const both = await run("train", "specs/tiny-fmnist.json", "--sweep", SWEEP);
    expect(both.code).toBe(2);
    expect(both.err).toContain("not both");
    const resume = await run("train", "--sweep", SWEEP, "--resume");
    expect(resume.code).toBe(2);
    expect(resume.err).toContain("--resume does not apply to --sweep");
  });
});
