// The up-sampling lowerings (written with slices so their gradients are right, see lower.ts)
// compute what tf.image's resize ops compute forward: nearest, and bilinear with half-pixel
// centres (PyTorch align_corners=False). Exact up to float32 rounding of ¾a + ¼b (1e-6).
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { upsampleBilinear2x, upsampleNearest } from "../src/runtime/tfjs/lower.ts";

describe("up-sampling lowerings", () => {
  for (const shape of [
    [1, 1, 1, 1],
    [2, 3, 5, 2],
    [1, 4, 4, 3],
  ] as [number, number, number, number][]) {
    it(`match tf.image forward for ${shape.join("×")}`, () => {
      const x = tf.randomNormal(shape) as tf.Tensor4D;
      const size: [number, number] = [shape[1] * 2, shape[2] * 2];
      const near = tf.sub(upsampleNearest(x, 2), tf.image.resizeNearestNeighbor(x, size, false, true));
      const bil = tf.sub(upsampleBilinear2x(x, 2), tf.image.resizeBilinear(x, size, false, true));
      expect(tf.max(tf.abs(near)).dataSync()[0]).toBeLessThan(1e-6);
      expect(tf.max(tf.abs(bil)).dataSync()[0]).toBeLessThan(1e-6);
    });
  }
});
