// The full latent-diffit-imagenet512 (563.6 M parameters, 2.25 GB of float32 weights) exports with
// seeded random weights into a small graph file plus one external-data file, with peak memory under
// twice the weights, and onnxruntime loads and runs it at batch 1.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openSession, ort } from "../src/runtime/onnx/session.ts";

describe("external data for models above 2 GB", () => {
  it("exports latent-diffit-imagenet512 in full, streamed, and runs it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "diffit-big-"));
    const path = join(dir, "latent512.onnx");
    try {
      const r = spawnSync(
        process.execPath,
        [
          "bin/diffit.js",
          "export",
          "specs/latent-diffit-imagenet512.json",
          "--random-weights",
          "-o",
          path,
          "--json",
        ],
        { encoding: "utf8", maxBuffer: 1 << 20 },
      );
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as {
        dataPath: string;
        weightBytes: number;
        bytes: number;
        peakRssBytes: number;
      };
      expect(out.dataPath).toBe(`${path}.data`);
      expect(out.weightBytes).toBeGreaterThan(2.2e9);
      // Tensors under 1 KB (shape constants, small biases) stay inline in the graph file.
      expect(statSync(out.dataPath).size).toBeGreaterThan(0.999 * out.weightBytes);
      expect(out.bytes).toBeLessThan(5e6); // the graph alone, far below protobuf's 2 GB
      expect(out.peakRssBytes).toBeLessThan(2 * out.weightBytes);
      const session = await openSession(path);
      const feeds = {
        x: new ort.Tensor("float32", new Float32Array(4 * 64 * 64).fill(0.1), [1, 4, 64, 64]),
        t: new ort.Tensor("float32", Float32Array.from([500]), [1]),
        y: new ort.Tensor("int64", BigInt64Array.from([3n]), [1]),
      };
      const result = await session.run(feeds);
      expect(result.out?.dims).toEqual([1, 8, 64, 64]);
      expect(Array.from(result.out?.data as Float32Array).every(Number.isFinite)).toBe(true);
      await session.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
