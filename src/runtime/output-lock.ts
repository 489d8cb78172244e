// One writer per output folder. Two runs writing one folder (a second `train`, a `--resume` or
// `--force` started while the first still runs, a `train --sweep`, the demo, later `encode`)
// overwrite each other's checkpoints silently and interleave their logs, so every command that
// writes into a folder first takes its lock: a file `diffit.lock` created atomically (written
// whole under a temporary name, then hard-linked into place, which fails if it exists), holding
// the holder's PID, host, start time and command line.
//
// A lock whose holder is gone (same host, PID not running, or running but started at another
// time: the PID was reused) is taken over with a note; a holder on another host cannot be
// checked, so the message says how to remove the lock by hand. The lock is released on every
// exit path (signals.ts runs the release on exit and before dying by a signal); only kill -9
// leaves it behind, for the next run to take over. Taking a lock also removes the temporary
// files of writeFileAtomic that killed runs left in the folder.
import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { UsageError } from "../errors.ts";
import { ATOMIC_TEMP_NAME, atomicTempPath } from "./checkpoint/safetensors.ts";
import { launcherPid } from "./huge-pages.ts";
import { onExitCleanup } from "./signals.ts";
import { writingTo } from "./write-error.ts";

export const LOCK_FILE = "diffit.lock";
const LOCK_FORMAT = "diffit-lock/1";

/** What a lock file records about its holder. */
export interface LockHolder {
  format: typeof LOCK_FORMAT;
  pid: number;
  /** The visible CLI process that re-ran itself as `pid` (huge-pages.ts), if any. */
  launcherPid?: number;
  host: string;
  /** ISO time the lock was taken. */
  started: string;
  /** Start time of `pid` in clock ticks since boot (Linux), to tell a reused PID from the holder. */
  processStart?: string;
  command: string;
}

export interface OutputLock {
  readonly dir: string;
  readonly file: string;
  /** Gives the lock up (once per handle); the folder, if this lock created it and it is empty, goes too. */
  release(): void;
}

export interface LockOptions {
  /** Where notes go (a stale lock taken over, stale temporary files removed). */
  log?: (line: string) => void;
}

interface Held {
  count: number;
  file: string;
  dir: string;
  createdDir: boolean;
  record: LockHolder;
  unregister: () => void;
}

/** Locks this process holds, by real path: a command and the training loop it calls lock the same folder. */
const held = new Map<string, Held>();

/** State and start time of process `pid` (fields 3 and 22 of /proc/<pid>/stat), where the system tells them. */
function procStat(pid: number): { state: string; start: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] ?? "", start: fields[19] ?? "" };
  } catch {
    return undefined;
  }
}

/**
 * Whether process `pid` runs on this host: it exists, is not a zombie (an exited process whose
 * parent has not reaped it, as an orphan in a container whose init reaps nothing stays), and,
 * given its start time, is still that process rather than a later one with its PID.
 */
function runs(pid: number, started?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false; // ESRCH: no such process
  }
  const now = procStat(pid);
  if (!now) return true; // no /proc: the signal probe is all there is
  return now.state !== "Z" && (started === undefined || now.start === started);
}

function commandLine(): string {
  const args = process.argv.slice(2).map((a) => (/^[\w./=:,@+-]+$/.test(a) ? a : JSON.stringify(a)));
  return ["diffit", ...args].join(" ");
}

function minutesAgo(iso: string): string {
  const minutes = Math.round((Date.now() - Date.parse(iso)) / 60_000);
  if (!Number.isFinite(minutes)) return "";
  return minutes < 1 ? " (under a minute ago)" : ` (${minutes} min ago)`;
}

const describeHolder = (h: LockHolder) =>
  `PID ${h.pid}${h.launcherPid ? ` (launched by PID ${h.launcherPid})` : ""} on ${h.host === hostname() ? `this host (${h.host})` : `host ${h.host}`}, since ${h.started.replace(/\.\d+Z$/, "Z")}${minutesAgo(h.started)}: ${h.command}`;

function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    const ok =
      h.format === LOCK_FORMAT &&
      Number.isInteger(h.pid) &&
      typeof h.host === "string" &&
      typeof h.started === "string" &&
      typeof h.command === "string";
    return ok ? (h as LockHolder) : undefined;
  } catch {
    return undefined;
  }
}

/** Creates `file` holding `text` if no file of that name exists; false if one does. */
function createExclusive(file: string, text: string): boolean {
  const tmp = atomicTempPath(file);
  writingTo(file, () => writeFileSync(tmp, text));
  try {
    linkSync(tmp, file);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "ENOSYS") throw e;
    // A file system without hard links: O_EXCL, whose record a reader may see half-written.
    return writingTo(file, () => {
      let fd: number;
      try {
        fd = openSync(file, "wx");
      } catch (x) {
        if ((x as NodeJS.ErrnoException).code === "EEXIST") return false;
        throw x;
      }
      try {
        writeSync(fd, text);
      } finally {
        closeSync(fd);
      }
      return true;
    });
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Removes the lock `text` of a holder that is gone. It is renamed aside first and compared, so
 * of two runs taking over the same stale lock only one removes it; the other (having moved the
 * winner's fresh lock aside) puts that back and finds the folder in use.
 */
function removeStale(file: string, text: string): void {
  const aside = `${file}.stale-${process.pid}`;
  try {
    renameSync(file, aside);
  } catch {
    return; // already taken over by another run
  }
  const moved = readFileSync(aside, "utf8");
  if (moved !== text) {
    try {
      linkSync(aside, file);
    } catch {
      // a third run holds the folder now; it will be found on the next attempt
    }
  }
  rmSync(aside, { force: true });
}

function refusal(dir: string, file: string, text: string, h: LockHolder | undefined): UsageError {
  if (!h)
    return new UsageError(
      `${file} is not a lock diffit wrote (${JSON.stringify(text.slice(0, 80))}); if no diffit run is writing into ${dir}, delete it and rerun`,
    );
  if (h.host !== hostname())
    return new UsageError(
      `${dir} is in use by a diffit run on another host: ${describeHolder(h)}. diffit cannot check from here whether it still runs: if it does not (that host was shut down, say), delete ${file} and rerun`,
    );
  return new UsageError(
    `${dir} is in use by another diffit run: ${describeHolder(h)}. One run at a time writes into a folder: wait for it to finish, stop it (Ctrl-C in its terminal, or kill ${h.pid}: it saves a checkpoint first), or use another output folder (--out)`,
  );
}

/** Takes the lock file of `dir`, taking over a stale one; throws a UsageError naming a live holder. */
function acquire(dir: string, file: string, record: LockHolder, log: (line: string) => void): void {
  const text = `${JSON.stringify(record, null, 2)}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (createExclusive(file, text)) return;
    let found: string;
    try {
      found = readFileSync(file, "utf8");
    } catch {
      continue; // released between the two calls
    }
    const h = parseHolder(found);
    if (!h || h.host !== hostname() || runs(h.pid, h.processStart)) throw refusal(dir, file, found, h);
    removeStale(file, found);
    log(
      `note: took over the lock of ${dir} from ${describeHolder(h)}; that process is no longer running (killed?)`,
    );
  }
  throw new UsageError(`${dir}: could not take its lock (${file}) after 5 attempts; rerun`);
}

/** Removes writeFileAtomic's temporary files in `dir` whose writer no longer runs. */
function removeStaleTemps(dir: string, log: (line: string) => void): void {
  for (const name of readdirSync(dir)) {
    const pid = Number(ATOMIC_TEMP_NAME.exec(name)?.[1]);
    if (!pid) continue;
    if (pid !== process.pid && runs(pid)) continue;
    rmSync(join(dir, name), { force: true });
    log(`note: removed ${join(dir, name)}, a partial write left by a stopped run`);
  }
}

function release(key: string): void {
  const h = held.get(key);
  if (!h || --h.count > 0) return;
  held.delete(key);
  h.unregister();
  try {
    const now = parseHolder(readFileSync(h.file, "utf8"));
    if (now?.pid === h.record.pid && now.started === h.record.started) rmSync(h.file, { force: true });
  } catch {
    // The lock is gone already: nothing to release.
  }
  removeIfEmpty(h.dir, h.createdDir);
}

/** Removes a folder the lock created if nothing else was written into it (a refused run, say). */
function removeIfEmpty(dir: string, created: boolean): void {
  try {
    if (created && readdirSync(dir).length === 0) rmdirSync(dir);
  } catch {
    // Gone already, or not ours to remove.
  }
}

/**
 * Takes the lock of output folder `dir` (created if missing) for this process, or throws a
 * UsageError (exit 2) naming the run that holds it and what to do. A process may lock a folder
 * it holds again (a command and the training loop it runs); each handle releases once.
 */
export function lockOutputFolder(dir: string, options: LockOptions = {}): OutputLock {
  const log = options.log ?? (() => {});
  const createdDir = !existsSync(dir);
  writingTo(dir, () => mkdirSync(dir, { recursive: true }));
  const key = realpathSync(dir);
  const file = join(dir, LOCK_FILE);
  const mine = held.get(key);
  if (mine) mine.count++;
  else {
    const start = procStat(process.pid)?.start;
    const record: LockHolder = {
      format: LOCK_FORMAT,
      pid: process.pid,
      ...(launcherPid() ? { launcherPid: launcherPid() } : {}),
      host: hostname(),
      started: new Date().toISOString(),
      ...(start ? { processStart: start } : {}),
      command: commandLine(),
    };
    try {
      acquire(dir, file, record, log);
    } catch (e) {
      removeIfEmpty(dir, createdDir);
      throw e;
    }
    held.set(key, { count: 1, file, dir, createdDir, record, unregister: onExitCleanup(() => release(key)) });
    removeStaleTemps(dir, log);
  }
  let released = false;
  return {
    dir,
    file,
    release() {
      if (released) return;
      released = true;
      release(key);
    },
  };
}

/** Runs `f` holding the lock of `dir`, released however `f` ends. */
export async function withOutputLock<T>(
  dir: string,
  options: LockOptions,
  f: (lock: OutputLock) => Promise<T>,
): Promise<T> {
  const lock = lockOutputFolder(dir, options);
  try {
    return await f(lock);
  } finally {
    lock.release();
  }
}
