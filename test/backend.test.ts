// Backend selection: the fastest that loads, with a one-line reason for each one skipped; an
// explicit request (flag or DIFFIT_BACKEND) is honoured or refused, never silently replaced.
import { describe, expect, it } from "vitest";
import { UsageError } from "../src/errors.ts";
import { describeBackend, selectBackend } from "../src/runtime/backend.ts";

describe("backend selection", () => {
  it("falls through the missing tfjs-node packages to wasm, saying why", async () => {
    const c = await selectBackend(undefined, {});
    // This machine cannot install tfjs-node (its install downloads libtensorflow).
    expect(c.name).toBe("wasm");
    expect(c.skipped.map((s) => s.name)).toEqual(["node-gpu", "node"]);
    expect(c.skipped[0]?.reason).toMatch(/tfjs-node-gpu is not installed/);
    expect(describeBackend(c)).toMatch(/^backend: wasm \(fastest that loads\)\n {2}skipped node-gpu: /);
  });

  it("honours DIFFIT_BACKEND and lets --backend win over it", async () => {
    expect((await selectBackend(undefined, { DIFFIT_BACKEND: "cpu" })).name).toBe("cpu");
    const flag = await selectBackend("wasm", { DIFFIT_BACKEND: "cpu" });
    expect(flag).toMatchObject({ name: "wasm", why: "--backend" });
  });

  it("refuses an unknown or unavailable backend with a usage error", async () => {
    await expect(selectBackend("tpu", {})).rejects.toThrow(UsageError);
    await expect(selectBackend("tpu", {})).rejects.toThrow(
      /unknown backend "tpu"; use one of node-gpu, node, wasm, cpu/,
    );
    await expect(selectBackend("node", {})).rejects.toThrow(
      /backend node was requested but cannot run: @tensorflow\/tfjs-node is not installed/,
    );
  });
});
