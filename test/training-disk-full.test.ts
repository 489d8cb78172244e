// Training into a folder whose disk fills up: a 5 MiB tmpfs holds one checkpoint of the tiny
// spec (3.0 MB state + 0.8 MB EMA) but not the temporary copy of the next. The run stops with
// exit 1 and a message (no stack trace) naming the file it could not write and the checkpoint
// that is intact; no temporary file is left, and that checkpoint still loads.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildGraph } from "../src/compiler/ir/build.ts";
import { runFrontEnd } from "../src/compiler/pipeline.ts";
import { loadTrainState } from "../src/runtime/training/train-state.ts";
import { runCli, tinyTrain } from "./helpers/cli-process.ts";

/** Mounts a tmpfs of `size` on a fresh folder, or says why it cannot (not root, a container without CAP_SYS_ADMIN…). */
function smallDisk(size: string): { dir: string; unmount: () => void } | { reason: string } {
  const dir = mkdtempSync(join(tmpdir(), "diffit-full-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "pipe" });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    return { reason: stderr || (e as Error).message };
  }
  return {
    dir,
    unmount: () => {
      execFileSync("umount", [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const disk = smallDisk("5m");
afterAll(() => {
  if (!("reason" in disk)) disk.unmount();
});
const skipped = "reason" in disk ? ` (skipped: cannot mount a tmpfs here: ${disk.reason})` : "";

describe("a full disk", () => {
  it.skipIf("reason" in disk)(
    `stops with a message naming the file and the intact checkpoint, and leaves no partial file${skipped}`,
    async () => {
      if ("reason" in disk) return;
      const out = join(disk.dir, "run");
      const r = await runCli(tinyTrain(out, 9, 3));
      const state = join(out, "state.safetensors");
      expect(r.code, r.output).toBe(1);
      expect(r.output).toContain(
        `error: cannot write ${state}: no space left on device (ENOSPC); the last complete checkpoint, step 3, is intact in ${state}; free space (or fix the folder's permissions) and continue with --resume`,
      );
      expect(r.output).not.toMatch(/^\s+at /m); // no stack trace
      expect(readdirSync(out).filter((f) => f.includes(".tmp-") || f === "diffit.lock")).toEqual([]);
      const [entry] = runFrontEnd("specs/tiny-fmnist.json", { typecheck: false }).entries;
      if (!entry) throw new Error("specs/tiny-fmnist.json does not resolve");
      expect(loadTrainState(state, buildGraph(entry.spec), entry.hash).progress.step).toBe(3);
    },
  );
});
