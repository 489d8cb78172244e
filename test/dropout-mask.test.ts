// The ONNX engine's dropout masks are drawn without tfjs (dropout-mask.ts); both engines see the
// same units dropped only if they equal tf.dropout's bit for bit, on every backend the tfjs
// trainer may run on.
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { dropoutMask } from "../src/runtime/training/dropout-mask.ts";

describe("dropoutMask", () => {
  const original = tf.getBackend();
  afterAll(async () => {
    if (original) await tf.setBackend(original);
  });
  for (const backend of ["cpu", "wasm"]) {
    it(`equals tf.dropout(ones) exactly on ${backend}, for several rates, seeds and sizes`, async () => {
      if (backend === "wasm") await import("@tensorflow/tfjs-backend-wasm");
      await tf.setBackend(backend);
      for (const [size, rate, seed] of [
        [1, 0.5, 0],
        [4097, 0.13, 1_000_003 * 7 + 42],
        [20_000, 0.1, 3],
        [777, 0.9, 123456789],
      ] as const) {
        const expected = tf.tidy(() => tf.dropout(tf.ones([size]), rate, undefined, seed).dataSync());
        // Drawn into a reused buffer that holds another mask first, as the engine draws them.
        const got = dropoutMask(size, rate, seed, dropoutMask(size, 0.5, seed + 1));
        expect(got.length).toBe(size);
        let differ = 0;
        for (let i = 0; i < size; i++) if (got[i] !== expected[i]) differ++;
        expect(differ).toBe(0);
        // Not a constant mask: some units are dropped and some kept.
        const kept = got.filter((v) => v > 0).length;
        if (size > 100) expect(kept / size).toBeGreaterThan(1 - rate - 0.05);
        if (size > 100) expect(kept / size).toBeLessThan(1 - rate + 0.05);
      }
    });
  }
});
