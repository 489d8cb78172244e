// The ONNX engine's dropout masks are drawn without tfjs (dropout-mask.ts); both engines see the
// same units dropped only if they equal tf.dropout's bit for bit, on every backend the tfjs
// trainer may run on.
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { drawDropoutMasks } from "../src/runtime/training/dropout-mask.ts";

// Sizes, rates and seeds of the masks compared; an odd count, so that drawDropoutMasks pairs
// masks of unequal length and rate and draws the last one alone.
const CASES = [
  [1, 0.5, 0],
  [4097, 0.13, 1_000_003 * 7 + 42],
  [20_000, 0.1, 3],
  [777, 0.9, 123456789],
  [3000, 0.3, 17],
] as const;

describe("dropout masks", () => {
  const original = tf.getBackend();
  afterAll(async () => {
    if (original) await tf.setBackend(original);
  });
  for (const backend of ["cpu", "wasm"]) {
    it(`equal tf.dropout(ones) exactly on ${backend}, drawn alone or two at a time into reused buffers`, async () => {
      if (backend === "wasm") await import("@tensorflow/tfjs-backend-wasm");
      await tf.setBackend(backend);
      // Buffers that hold other values first, as the engine's do from the step before.
      const jobs = CASES.map(([size, rate, seed]) => ({ rate, seed, out: new Float32Array(size).fill(7) }));
      drawDropoutMasks(jobs);
      for (const [k, [size, rate, seed]] of CASES.entries()) {
        const expected = tf.tidy(() => tf.dropout(tf.ones([size]), rate, undefined, seed).dataSync());
        const alone = { rate, seed, out: new Float32Array(size) };
        drawDropoutMasks([alone]);
        for (const got of [alone.out, jobs[k]?.out ?? new Float32Array()]) {
          expect(got.length).toBe(size);
          let differ = 0;
          for (let i = 0; i < size; i++) if (got[i] !== expected[i]) differ++;
          expect(differ).toBe(0);
          // Not a constant mask: some units are dropped and some kept.
          const kept = got.filter((v) => v > 0).length;
          if (size > 100) expect(kept / size).toBeGreaterThan(1 - rate - 0.05);
          if (size > 100) expect(kept / size).toBeLessThan(1 - rate + 0.05);
        }
      }
    });
  }
});
