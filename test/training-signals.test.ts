// Training stopped the way schedulers and terminals stop it, and started twice on one folder.
// SIGTERM and SIGHUP to the visible process stop the trainer as Ctrl-C does: every finished step
// is in the checkpoint, exit 0, the lock released. A second `train` on a folder in use, fresh,
// `--resume` or `--force`, is refused (exit 2) naming the run that holds it, and that run goes
// on untouched.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readSafetensors } from "../src/runtime/checkpoint/safetensors.ts";
import { LOCK_FILE } from "../src/runtime/output-lock.ts";
import {
  lockHolder,
  metricLines,
  pidRuns,
  runCli,
  sandbox,
  startCli,
  tinyTrain,
  waitFor,
} from "./helpers/cli-process.ts";

const { root, trainers: pids } = sandbox("diffit-signals-");

const stateStep = (dir: string) =>
  (JSON.parse(readSafetensors(join(dir, "state.safetensors")).metadata.progress ?? "{}") as { step: number })
    .step;

/** A long run into `dir`, once it has finished `steps` steps; its trainer's PID is in the lock. */
async function trainingInto(dir: string, steps = 2) {
  // No checkpoint of its own before the stop: the one the stop writes is the only one.
  const run = startCli(tinyTrain(dir, 100_000, 100_000));
  const trainer = await waitFor("the trainer's lock", () => lockHolder(dir)?.pid);
  pids.push(trainer);
  await waitFor(`step ${steps}`, () => (metricLines(dir) >= steps ? true : undefined));
  return { run, trainer };
}

describe("stopping training with a signal", () => {
  it.each(["SIGTERM", "SIGHUP"] as const)(
    "%s checkpoints every finished step, exits 0 and releases the folder",
    async (signal) => {
      const dir = join(root, signal);
      const { run } = await trainingInto(dir);
      run.child.kill(signal);
      expect(await run.exit, run.output()).toBe(0);
      expect(run.output()).toContain(`${signal}: stopping after this step with a checkpoint`);
      expect(run.output()).toMatch(
        new RegExp(`stopped by ${signal} at step \\d+; the state is saved in .*--resume`),
      );
      expect(stateStep(dir)).toBe(metricLines(dir));
      expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    },
  );
});

describe("two runs on one folder", () => {
  it("a second run, --resume or --force is refused while the first trains, naming it; the first goes on", {
    timeout: 240_000,
  }, async () => {
    const dir = join(root, "shared");
    const { run, trainer } = await trainingInto(dir);
    const second = await Promise.all(
      [[], ["--resume"], ["--force"]].map((extra) => runCli(tinyTrain(dir, 50, 10, ...extra))),
    );
    for (const r of second) {
      expect(r.code, r.output).toBe(2);
      expect(r.output).toContain(
        `${dir} is in use by another diffit run: PID ${trainer} (launched by PID ${run.child.pid})`,
      );
      expect(r.output).toContain(`kill ${trainer}`);
    }
    expect(pidRuns(trainer)).toBe(true);
    run.child.kill("SIGTERM");
    expect(await run.exit, run.output()).toBe(0);
    // One writer: every step once, in order.
    const steps = readFileSync(join(dir, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { step: number }).step);
    expect(steps).toEqual(steps.map((_, i) => i + 1));
    expect(stateStep(dir)).toBe(steps.length);
  });
});
