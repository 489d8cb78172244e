// The output-folder lock: a live holder on this host is refused by name, a dead one (or a reused
// PID) is taken over with a note, one on another host is refused with how to remove it; a
// process may lock a folder it holds again; releasing removes the lock (and a folder the lock
// created, if it stayed empty); taking it removes temporary files of dead writers; the sweep and
// the demo lock their folders as train does. Signals: a
// first stop signal is a request while a loop watches, a second ends the process, and the lock
// is released on the way out either way.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../src/cli.ts";
import { UsageError } from "../src/errors.ts";
import { LOCK_FILE, type LockHolder, lockOutputFolder } from "../src/runtime/output-lock.ts";

const root = mkdtempSync(join(tmpdir(), "diffit-lock-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const folder = () => join(root, `f${n++}`);

/** A PID that no process has any more. */
const deadPid = () => spawnSync("true").pid;

function holder(over: Partial<LockHolder>): LockHolder {
  return {
    format: "diffit-lock/1",
    pid: deadPid(),
    host: hostname(),
    started: "2025-01-01T00:00:00.000Z",
    command: "diffit train specs/x.json --out y",
    ...over,
  };
}

function writeLock(dir: string, h: LockHolder | string): void {
  spawnSync("mkdir", ["-p", dir]);
  writeFileSync(join(dir, LOCK_FILE), typeof h === "string" ? h : JSON.stringify(h));
}

function refusal(dir: string): string {
  try {
    lockOutputFolder(dir).release();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`${dir} was locked although it is held`);
}

describe("output-folder lock", () => {
  it("records this process, refuses nothing it holds itself, and removes the lock (and the empty folder it made) on release", () => {
    const dir = folder();
    const a = lockOutputFolder(dir);
    const record = JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")) as LockHolder;
    expect(record).toMatchObject({ pid: process.pid, host: hostname() });
    expect(Date.parse(record.started)).toBeGreaterThan(Date.now() - 60_000);
    const again = lockOutputFolder(dir); // the command's lock and the training loop's
    again.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
    a.release();
    a.release(); // once per handle
    expect(existsSync(dir)).toBe(false);
  });

  it("keeps a folder that was there before, or that got files", () => {
    const dir = folder();
    const lock = lockOutputFolder(dir);
    writeFileSync(join(dir, "metrics.jsonl"), "");
    lock.release();
    expect(readdirSync(dir)).toEqual(["metrics.jsonl"]);
  });

  it("refuses a folder a live process on this host holds, naming it and what to do", () => {
    const dir = folder();
    const sleeper = spawn("sleep", ["30"]);
    try {
      writeLock(dir, holder({ pid: sleeper.pid ?? 0 }));
      const m = refusal(dir);
      expect(m).toContain(`${dir} is in use by another diffit run: PID ${sleeper.pid} on this host`);
      expect(m).toContain("since 2025-01-01T00:00:00Z");
      expect(m).toContain("diffit train specs/x.json --out y");
      expect(m).toContain(`kill ${sleeper.pid}`);
      expect(m).toContain("another output folder (--out)");
    } finally {
      sleeper.kill();
    }
  });

  it("takes over the lock of a process that is gone, or whose PID now belongs to another process, with a note", () => {
    const dir = folder();
    writeLock(dir, holder({}));
    const notes: string[] = [];
    lockOutputFolder(dir, { log: (l) => notes.push(l) }).release();
    expect(notes.join("\n")).toMatch(/took over the lock of .* from PID \d+ .*no longer running/);
    // This very PID, but recorded with another start time: a PID reused after the holder died.
    writeLock(dir, holder({ pid: process.pid, processStart: "1" }));
    notes.length = 0;
    lockOutputFolder(dir, { log: (l) => notes.push(l) }).release();
    expect(notes.join("\n")).toContain(`from PID ${process.pid}`);
  });

  it("takes over the lock of a process that exited but was never reaped (a zombie)", async () => {
    // `sleep 0` exits at once; its parent execs into `sleep 5`, which never reaps it.
    const parent = spawn("sh", ["-c", "sleep 0 & echo $!; exec sleep 5"]);
    try {
      const pid = Number(
        await new Promise<string>((r) => parent.stdout.once("data", (d: Buffer) => r(d.toString()))),
      );
      await new Promise((r) => setTimeout(r, 300));
      expect(readFileSync(`/proc/${pid}/stat`, "utf8")).toMatch(/\) Z /);
      const dir = folder();
      writeLock(dir, holder({ pid }));
      const notes: string[] = [];
      lockOutputFolder(dir, { log: (l) => notes.push(l) }).release();
      expect(notes.join("\n")).toContain(`from PID ${pid}`);
    } finally {
      parent.kill();
    }
  });

  it("refuses a lock from another host, saying how to remove it if it is stale", () => {
    const dir = folder();
    writeLock(dir, holder({ host: "elsewhere" }));
    const m = refusal(dir);
    expect(m).toContain("a diffit run on another host: PID");
    expect(m).toContain("host elsewhere");
    expect(m).toContain(`delete ${join(dir, LOCK_FILE)} and rerun`);
  });

  it("refuses a lock file it cannot read, saying how to remove it", () => {
    const dir = folder();
    writeLock(dir, "not json");
    expect(refusal(dir)).toContain(`${join(dir, LOCK_FILE)} is not a lock diffit wrote`);
  });

  it("removes temporary files of writers that are gone, and keeps those of live ones", () => {
    const dir = folder();
    const sleeper = spawn("sleep", ["30"]);
    try {
      spawnSync("mkdir", ["-p", dir]);
      const stale = `state.safetensors.tmp-${deadPid()}`;
      const live = `ema.safetensors.tmp-${sleeper.pid}`;
      writeFileSync(join(dir, stale), "x");
      writeFileSync(join(dir, live), "x");
      const notes: string[] = [];
      lockOutputFolder(dir, { log: (l) => notes.push(l) }).release();
      expect(readdirSync(dir).sort()).toEqual([live]);
      expect(notes.join("\n")).toContain(
        `removed ${join(dir, stale)}, a partial write left by a stopped run`,
      );
    } finally {
      sleeper.kill();
    }
  });
});

describe("commands that write into a folder lock it", () => {
  it.each([
    [
      "train --sweep",
      ["train", "--sweep", "test/fixtures/sweep/micro-sweep.json", "--limit", "8", "--no-eval"],
    ],
    ["demo", ["demo"]],
  ])("%s refuses a folder another run holds (exit 2), naming it", async (_, args) => {
    const dir = folder();
    const sleeper = spawn("sleep", ["30"]);
    try {
      writeLock(dir, holder({ pid: sleeper.pid ?? 0 }));
      const lines: string[] = [];
      const code = await main(["node", "diffit", ...args, "--out", dir], {
        out: (t) => lines.push(t),
        err: (t) => lines.push(t),
      });
      expect(code).toBe(2);
      expect(lines.join("\n")).toContain(`${dir} is in use by another diffit run: PID ${sleeper.pid}`);
      expect(readdirSync(dir)).toEqual([LOCK_FILE]); // nothing written
    } finally {
      sleeper.kill();
    }
  });
});

/** The fixture process, once it says it is ready. */
async function lockedChild(dir: string, mode: string): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "test/fixtures/stop-signals-child.ts", dir, mode],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let out = "";
  await new Promise<void>((resolve, reject) => {
    child.on("exit", () => reject(new Error(`the fixture exited early: ${out}`)));
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("ready")) resolve();
    });
  });
  return { child, out: () => out };
}

const exitOf = (child: ChildProcess) =>
  new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on("exit", (code, signal) => resolve(signal ?? code)),
  );

describe("stop signals", () => {
  it("while a loop watches, the first SIGTERM is a request and the second ends the process, lock released", async () => {
    const dir = folder();
    const { child, out } = await lockedChild(dir, "watch");
    const exited = exitOf(child);
    child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 500));
    expect(out()).toContain("stopping SIGTERM");
    expect(child.exitCode).toBe(null);
    child.kill("SIGTERM");
    expect(await exited).toBe("SIGTERM");
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it.each(["SIGINT", "SIGHUP"] as const)(
    "outside a loop, %s ends the process at once, lock released",
    async (signal) => {
      const dir = folder();
      const { child } = await lockedChild(dir, "plain");
      const exited = exitOf(child);
      child.kill(signal);
      expect(await exited).toBe(signal);
      expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    },
  );
});
