// The up-sampling lowerings (written with slices so their gradients are right, see lower.ts)
// compute what tf.image's resize ops compute forward: nearest, and bilinear with half-pixel
// centres (PyTorch align_corners=False). Exact up to float32 rounding of ¾a + ¼b (1e-6).
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { subPixelConvTranspose } from "../src/compiler/ops/conv/tfjs.ts";
import { upsampleBilinear2x, upsampleNearest } from "../src/compiler/ops/resample/tfjs.ts";

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

describe("transposed convolution k4 s2 p1 as a sub-pixel convolution", () => {
  it("equals tf.conv2dTranspose forward (and so PyTorch's ConvTranspose2d)", () => {
    const x = tf.randomNormal([2, 3, 5, 3]) as tf.Tensor4D;
    const w = tf.randomNormal([4, 4, 3, 6]) as tf.Tensor4D; // IR layout [kh, kw, in, out]
    const reference = tf.conv2dTranspose(
      x,
      tf.transpose(w, [0, 1, 3, 2]) as tf.Tensor4D,
      [2, 6, 10, 6],
      2,
      1,
    );
    const diff = tf.max(tf.abs(tf.sub(subPixelConvTranspose(x, w), reference))).dataSync()[0];
    // Sums of ≤ 4·3 products of N(0,1) values: float32 reassociation error ~1e-6.
    expect(diff).toBeLessThan(1e-5);
  });
});
