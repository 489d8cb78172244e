// Training killed outright. kill -9 of the trainer at seeded random points (mid-step, or mid-
// checkpoint-write) leaves a checkpoint that loads, and `--resume` (taking over the dead run's
// lock, removing its partial writes) ends byte for byte where an uninterrupted run ends. kill -9
// of the visible launcher leaves no trainer behind: the trainer notices, checkpoints and exits.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildGraph } from "../src/compiler/ir/build.ts";
import { runFrontEnd } from "../src/compiler/pipeline.ts";
import { LOCK_FILE } from "../src/runtime/output-lock.ts";
import { Rng } from "../src/runtime/random.ts";
import { loadTrainState } from "../src/runtime/training/train-state.ts";
import {
  lockHolder,
  metricLines,
  pidRuns,
  runCli,
  sandbox,
  sleep,
  startCli,
  tinyTrain,
  waitFor,
} from "./helpers/cli-process.ts";

const { root, trainers: pids } = sandbox("diffit-crash-");

const [entry] = runFrontEnd("specs/tiny-fmnist.json", { typecheck: false }).entries;
if (!entry) throw new Error("specs/tiny-fmnist.json does not resolve");
const graph = buildGraph(entry.spec);
/** The step of the training state in `dir`, read as `--resume` reads it. */
const stateStep = (dir: string) =>
  loadTrainState(join(dir, "state.safetensors"), graph, entry.hash).progress.step;
const losses = (dir: string) =>
  readFileSync(join(dir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => (JSON.parse(l) as { step: number; loss: number }).loss);
const leftovers = (dir: string) => readdirSync(dir).filter((f) => f.includes(".tmp-") || f === LOCK_FILE);

const STEPS = 30;
const EVERY = 3;

describe("training killed with SIGKILL", () => {
  it("at seeded random points, resumes to the same bytes as an uninterrupted run", {
    timeout: 480_000,
  }, async () => {
    const straight = join(root, "straight");
    const rng = new Rng(17, "crash points");
    // After step `after` (past the first checkpoint), plus up to a step's time: mid-step or mid-write.
    const points = [0, 1, 2].map((i) => ({
      dir: join(root, `killed-${i}`),
      after: EVERY + 1 + rng.int(STEPS - EVERY - 10), // leaves 10 steps for the kill to land in
      delayMs: rng.int(80),
    }));
    // The runs go side by side: most of each is start-up, which the cores can overlap.
    const killed = points.map(async ({ dir, after, delayMs }) => {
      const run = startCli(tinyTrain(dir, STEPS, EVERY));
      const trainer = await waitFor("the trainer's lock", () => lockHolder(dir)?.pid);
      pids.push(trainer);
      await waitFor(`step ${after}`, () => (metricLines(dir) >= after ? true : undefined));
      await sleep(delayMs);
      process.kill(trainer, "SIGKILL");
      return run.exit;
    });
    const [ref, ...codes] = await Promise.all([runCli(tinyTrain(straight, STEPS, EVERY)), ...killed]);
    expect(ref.code, ref.output).toBe(0);
    const where = points.map((p) => `killed after step ${p.after} + ${p.delayMs} ms`);
    expect(codes, where.join("; ")).toEqual(points.map(() => 128 + 9)); // the launcher reports its trainer's death
    for (const [i, { dir }] of points.entries()) {
      const step = stateStep(dir);
      expect(step % EVERY, where[i]).toBe(0);
      expect(step, where[i]).toBeGreaterThanOrEqual(EVERY);
      expect(existsSync(join(dir, LOCK_FILE)), where[i]).toBe(true); // nothing can release on SIGKILL
    }

    const resumed = await Promise.all(
      points.map(({ dir }) => runCli(tinyTrain(dir, STEPS, EVERY, "--resume"))),
    );
    for (const [i, { dir }] of points.entries()) {
      const r = resumed[i];
      expect(r?.code, r?.output).toBe(0);
      expect(r?.output).toMatch(/took over the lock of .* no longer running/);
      for (const file of ["state.safetensors", "ema.safetensors"])
        expect(
          readFileSync(join(dir, file)).equals(readFileSync(join(straight, file))),
          `${file}, ${where[i]}`,
        ).toBe(true);
      expect(losses(dir), where[i]).toEqual(losses(straight));
      expect(leftovers(dir), where[i]).toEqual([]);
    }
  });

  it("of the visible launcher, the trainer checkpoints and exits instead of training on unseen", async () => {
    const dir = join(root, "orphan");
    const run = startCli(tinyTrain(dir, 100_000, 1000));
    const trainer = await waitFor("the trainer's lock", () => lockHolder(dir)?.pid);
    pids.push(trainer);
    expect(trainer).not.toBe(run.child.pid); // the huge-page rerun: the trainer is the launcher's child
    await waitFor("step 3", () => (metricLines(dir) >= 3 ? true : undefined));
    run.child.kill("SIGKILL");
    await waitFor("the trainer to exit", () => (pidRuns(trainer) ? undefined : true), 60_000);
    await sleep(100); // its last output, through the pipes it shares with the launcher
    expect(run.output()).toContain(`the launching process (PID ${run.child.pid}) is gone`);
    expect(run.output()).toMatch(/stopped by SIGHUP at step \d+/);
    expect(stateStep(dir)).toBe(metricLines(dir)); // every finished step is in the checkpoint
    expect(leftovers(dir)).toEqual([]);
  });
});
