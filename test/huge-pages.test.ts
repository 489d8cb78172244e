// The CLI's rerun with glibc's huge-page tunable: who reruns, that the child sees the tunable and
// its exit code comes back, that one Ctrl-C, SIGTERM or SIGHUP to the parent reaches the child
// exactly once (the trainer stops cleanly on the first and hard on the second), and that a child
// whose parent is killed outright gets a SIGHUP (the trainer checkpoints and exits on it).
import { spawn, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { wantsHugePagesRerun } from "../src/runtime/huge-pages.ts";
import { pidRuns, waitFor } from "./helpers/cli-process.ts";

const script = ["--import", "tsx", "test/fixtures/huge-pages-child.ts"];
const linux = process.platform === "linux";

describe("huge-page rerun", () => {
  it("reruns on Linux only, unless GLIBC_TUNABLES is set or DIFFIT_HUGE_PAGES=0", () => {
    expect(wantsHugePagesRerun({}, "linux")).toBe(true);
    expect(wantsHugePagesRerun({ GLIBC_TUNABLES: "glibc.malloc.arena_max=2" }, "linux")).toBe(false);
    expect(wantsHugePagesRerun({ DIFFIT_HUGE_PAGES: "0" }, "linux")).toBe(false);
    expect(wantsHugePagesRerun({}, "darwin")).toBe(false);
  });

  it.runIf(linux)("the child runs with the tunable and its exit code is the parent's", () => {
    const env = { ...process.env };
    delete env.GLIBC_TUNABLES;
    delete env.DIFFIT_HUGE_PAGES;
    const r = spawnSync(process.execPath, script, { env, encoding: "utf8" });
    expect(r.stdout).toContain("child GLIBC_TUNABLES=glibc.malloc.hugetlb=1");
    expect(r.status).toBe(3);
    const off = spawnSync(process.execPath, script, {
      env: { ...env, DIFFIT_HUGE_PAGES: "0" },
      encoding: "utf8",
    });
    expect(off.stdout).toContain("child GLIBC_TUNABLES=undefined");
    expect(off.status).toBe(3);
  });

  it.runIf(linux).each(["SIGINT", "SIGTERM", "SIGHUP"])(
    "a %s to the parent reaches the child once",
    async (signal) => {
      const parent = spawn(process.execPath, [...script, "signals", signal], {
        env: rerunEnv(),
        stdio: ["ignore", "pipe", "inherit"],
      });
      await outputUntil(parent, "ready");
      parent.kill(signal as NodeJS.Signals);
      const code = await new Promise<number | null>((resolve) => parent.on("exit", (c) => resolve(c)));
      expect(code).toBe(11);
    },
  );

  it.runIf(linux)("when the parent is killed outright, the child gets a SIGHUP", async () => {
    const parent = spawn(process.execPath, [...script, "orphan"], {
      env: rerunEnv(),
      stdio: ["ignore", "pipe", "inherit"],
    });
    const ready = await outputUntil(parent, "ready ");
    const child = Number(/ready (\d+)/.exec(ready)?.[1]);
    parent.kill("SIGKILL");
    // The child writes into the pipe it shares with its launcher, which this test still reads.
    expect(await outputUntil(parent, "hangup")).toContain("hangup");
    await waitFor("the child to exit", () => (pidRuns(child) ? undefined : true), 10_000);
  });
});

function rerunEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.GLIBC_TUNABLES;
  delete env.DIFFIT_HUGE_PAGES;
  return env;
}

/** stdout of `p` once it contains `text`. */
function outputUntil(p: ReturnType<typeof spawn>, text: string): Promise<string> {
  let out = "";
  return new Promise((resolve) =>
    p.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes(text)) resolve(out);
    }),
  );
}
