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

/**
 * Runs this script again as a child with GLIBC_TUNABLES set and returns its exit code, or
 * undefined when no rerun is wanted (then the caller carries on itself). The child runs in a
 * process group of its own, so a terminal's Ctrl-C reaches it once, forwarded by this process,
 * and the trainer's first-SIGINT-stops-cleanly handling works as without the rerun.
 */
export async function rerunWithHugePages(): Promise<number | undefined> {
  if (!wantsHugePagesRerun()) return undefined;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: "inherit",
    env: { ...process.env, GLIBC_TUNABLES: TUNABLE },
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
