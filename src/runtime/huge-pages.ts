// Large allocations on transparent huge pages. onnxruntime-node copies each output into freshly
// allocated memory, and glibc serves large allocations with fresh mmap'd pages, so the 450 MB of
// state a diffit-cifar10 training step returns cost ~115,000 page faults per step: on the 2-core
// bench VM the step took 1.8× longer than with glibc's malloc backing those allocations with
// 2 MiB pages (tunable glibc.malloc.hugetlb=1, glibc ≥ 2.35). A tunable is read only when a
// process starts, so the CLI and the bench run themselves again, once, with it set.
import { spawn } from "node:child_process";
import { constants } from "node:os";

const TUNABLE = "glibc.malloc.hugetlb=1";

/** Whether this process should run again with the tunable: Linux, not already set, not disabled. */
export function wantsHugePagesRerun(
  env: NodeJS.ProcessEnv = process.env,
  platform = process.platform,
): boolean {
  return platform === "linux" && env.GLIBC_TUNABLES === undefined && env.DIFFIT_HUGE_PAGES !== "0";
}

/** Set in the rerun child: the PID of the visible process that launched it. */
const LAUNCHER_ENV = "DIFFIT_LAUNCHER_PID";
let launcher: number | undefined;

/** In a rerun child, the PID of the visible process that launched it (for lock records). */
export const launcherPid = (): number | undefined => launcher;

/**
 * In the rerun child: when the launcher disappears (kill -9 of the process the user sees), an
 * orphaned child would train on unseen, holding its output folder. Its IPC channel closes then,
 * and the child acts as on a terminal hang-up: it raises SIGHUP at itself, so a training loop
 * stops with a checkpoint (signals.ts) and any other command ends.
 */
function followLauncher(): void {
  const pid = Number(process.env[LAUNCHER_ENV]);
  delete process.env[LAUNCHER_ENV];
  if (!pid || !process.channel) return;
  launcher = pid;
  process.channel.unref(); // the channel must not keep the child alive once its work is done
  process.once("disconnect", () => {
    // Whoever read the launcher's output may be gone too: a failed write must not end the checkpoint.
    for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});
    process.stderr.write(`diffit: the launching process (PID ${pid}) is gone; stopping as on SIGHUP\n`);
    process.kill(process.pid, "SIGHUP");
  });
}

/**
 * Runs this script again as a child with GLIBC_TUNABLES set and returns its exit code, or
 * undefined when no rerun is wanted (then the caller carries on itself). The child runs in a
 * process group of its own, so a terminal's Ctrl-C reaches it once, forwarded by this process,
 * and the trainer's first-SIGINT-stops-cleanly handling works as without the rerun; SIGTERM and
 * SIGHUP are forwarded alike. An IPC channel tells the child when this process is gone.
 */
export async function rerunWithHugePages(): Promise<number | undefined> {
  if (!wantsHugePagesRerun()) {
    followLauncher();
    return undefined;
  }
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ["inherit", "inherit", "inherit", "ipc"],
    env: { ...process.env, GLIBC_TUNABLES: TUNABLE, [LAUNCHER_ENV]: String(process.pid) },
    detached: true,
  });
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  const forward = (signal: NodeJS.Signals) => {
    child.kill(signal);
  };
  for (const s of signals) process.on(s, forward);
  return await new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      for (const s of signals) process.off(s, forward);
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
}
