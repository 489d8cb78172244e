// The CLI as a user runs it, for tests of processes, signals and concurrent runs: `node
// bin/diffit.js …` in a child process, so the huge-page rerun (a visible launcher and the real
// trainer as its child) is part of what is tested.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll } from "vitest";
import { LOCK_FILE, type LockHolder } from "../../src/runtime/output-lock.ts";

const REPO = resolve(import.meta.dirname, "../..");

export interface CliRun {
  /** The visible process (the launcher, when the CLI reruns itself). */
  child: ChildProcess;
  /** stdout and stderr so far, the trainer's included. */
  output(): string;
  /** The exit code, or the signal that ended the visible process. */
  exit: Promise<number | NodeJS.Signals>;
}

/** Starts `diffit <args>` with the huge-page rerun on (as a user's shell would). */
export function startCli(args: readonly string[]): CliRun {
  const env = { ...process.env };
  delete env.GLIBC_TUNABLES;
  delete env.DIFFIT_HUGE_PAGES;
  const child = spawn(process.execPath, ["bin/diffit.js", ...args], { cwd: REPO, env });
  let text = "";
  child.stdout.on("data", (d: Buffer) => {
    text += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    text += d.toString();
  });
  const exit = new Promise<number | NodeJS.Signals>((done) =>
    child.on("exit", (code, signal) => done(signal ?? code ?? -1)),
  );
  return { child, output: () => text, exit };
}

/** Runs `diffit <args>` to its end. */
export async function runCli(
  args: readonly string[],
): Promise<{ code: number | NodeJS.Signals; output: string }> {
  const run = startCli(args);
  const code = await run.exit;
  return { code, output: run.output() };
}

/** Polls `probe` every 20 ms until it returns a value. */
export async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 120_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The holder recorded in `dir`'s lock file, if there is one. */
export function lockHolder(dir: string): LockHolder | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")) as LockHolder;
  } catch {
    return undefined;
  }
}

/** Complete lines in `dir`'s metrics.jsonl: the steps the trainer finished. */
export function metricLines(dir: string): number {
  const path = join(dir, "metrics.jsonl");
  if (!existsSync(path)) return 0;
  return readFileSync(path, "utf8").split("\n").length - 1;
}

/** Whether process `pid` runs (an exited one not yet reaped by its new parent does not). */
export function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true; // no /proc: kill(pid, 0) is all there is
  }
}

/** `diffit train` of the tiny spec on 32 images, batch 4, into `out`: a step takes tens of ms. */
export const tinyTrain = (out: string, steps: number, checkpointEvery: number, ...more: string[]) => [
  "train",
  "specs/tiny-fmnist.json",
  "--batch",
  "4",
  "--limit",
  "32",
  "--sample-every",
  "0",
  "--no-progress",
  "--steps",
  String(steps),
  "--checkpoint-every",
  String(checkpointEvery),
  "--out",
  out,
  ...more,
];

/**
 * A folder for a test file's runs and a list of the trainers it started, removed and killed
 * (any still running after a failed test) once the file's tests are done.
 */
export function sandbox(prefix: string): { root: string; trainers: number[] } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const trainers: number[] = [];
  afterAll(() => {
    for (const pid of trainers) if (pidRuns(pid)) process.kill(pid, "SIGKILL");
    rmSync(root, { recursive: true, force: true });
  });
  return { root, trainers };
}
