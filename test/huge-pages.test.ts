// The CLI's rerun with glibc's huge-page tunable: who reruns, that the child sees the tunable and
// its exit code comes back, and that one Ctrl-C to the parent reaches the child exactly once (the
// trainer stops cleanly on the first SIGINT and hard on the second).
import { spawn, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { wantsHugePagesRerun } from "../src/runtime/huge-pages.ts";

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

  it.runIf(linux)("a SIGINT to the parent reaches the child once", async () => {
    const env = { ...process.env };
    delete env.GLIBC_TUNABLES;
    delete env.DIFFIT_HUGE_PAGES;
    const parent = spawn(process.execPath, [...script, "signals"], {
      env,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    await new Promise<void>((resolve) =>
      parent.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("ready")) resolve();
      }),
    );
    parent.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => parent.on("exit", (c) => resolve(c)));
    expect(code).toBe(11);
  });
});
