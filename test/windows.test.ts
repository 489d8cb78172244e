// Local attention's plumbing [P §3.2 "Local Attention"]: the window partition is a pure
// permutation (its inverse restores the grid bit for bit), its order is window-major with
// row-major tokens inside each window, and the Swin relative-position index matches matrices
// worked out by hand from idx(i, j) = (Δrow + w − 1)(2w − 1) + (Δcol + w − 1) (DIFFIT.md §1).
import * as tf from "@tensorflow/tfjs";
import { beforeEach, describe, expect, it } from "vitest";
import { relativePositionIndex } from "../src/compiler/ops/attention/def.ts";
import { windowPartition, windowReverse } from "../src/compiler/ops/attention/tfjs.ts";
import { selectBackend } from "../src/runtime/backend.ts";
import { Rng } from "../src/runtime/random.ts";

// Every test runs on cpu unless it selects another backend itself.
beforeEach(async () => {
  await selectBackend("cpu");
});

/** x[n, h, w, c] = ((n·H + h)·W + w)·C + c, so every value names its own coordinates. */
const iota = (shape: [number, number, number, number]) =>
  tf.reshape(
    tf.range(
      0,
      shape.reduce((a, b) => a * b, 1),
      1,
      "float32",
    ),
    shape,
  ) as tf.Tensor4D;

describe("window partition and reverse", () => {
  const cases: { shape: [number, number, number, number]; window: number }[] = [
    { shape: [1, 4, 4, 1], window: 1 },
    { shape: [1, 4, 4, 1], window: 2 },
    { shape: [1, 4, 4, 1], window: 4 },
    { shape: [2, 6, 4, 3], window: 2 },
    { shape: [3, 6, 9, 2], window: 3 },
    { shape: [2, 8, 8, 5], window: 4 },
    { shape: [2, 8, 8, 5], window: 8 },
    { shape: [2, 4, 12, 3], window: 4 },
  ];
  for (const backend of ["cpu", "wasm"] as const) {
    for (const { shape, window } of cases) {
      it(`reverse(partition(x)) is x exactly for ${shape.join("×")} with window ${window} (${backend})`, async () => {
        await selectBackend(backend);
        const rng = new Rng(7, `${shape}/${window}`);
        const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
        const [n, h, w, c] = shape;
        const [parts, back] = tf.tidy(() => {
          const x = tf.tensor4d(values, shape);
          const p = windowPartition(x, window);
          return [p.shape, windowReverse(p, window, h, w).dataSync()] as const;
        });
        expect(parts).toEqual([(n * h * w) / (window * window), window * window, c]);
        expect(back).toEqual(values);
      });
    }
  }

  it("orders windows row-major per sample and tokens row-major inside a window (hand-checked)", () => {
    // x: [2, 4, 6, 2] with window 2 → 2 × (2 × 3) windows of 4 tokens.
    // Window b = n·6 + wr·3 + wc holds x[n, 2wr + r, 2wc + c', :] at token r·2 + c'.
    const parts = tf.tidy(() => windowPartition(iota([2, 4, 6, 2]), 2).arraySync());
    const token = (b: number, i: number) => parts[b]?.[i];
    // Window 0 (sample 0, top-left): x[0,0,0], x[0,0,1], x[0,1,0], x[0,1,1].
    expect(parts[0]).toEqual([
      [0, 1],
      [2, 3],
      [12, 13],
      [14, 15],
    ]);
    // Window 1 is to the right of window 0: x[0,0,2] = (0·6 + 2)·2 = 4.
    expect(token(1, 0)).toEqual([4, 5]);
    // Window 2 is the last of the first window row: x[0,1,5] = (1·6 + 5)·2 = 22 at token 3.
    expect(token(2, 3)).toEqual([22, 23]);
    // Window 3 starts the second window row: x[0,2,0] = (2·6 + 0)·2 = 24.
    expect(token(3, 0)).toEqual([24, 25]);
    // Window 5, token 2: x[0, 3, 4] = (3·6 + 4)·2 = 44.
    expect(token(5, 2)).toEqual([44, 45]);
    // Window 6 is sample 1's first: token 3 is x[1,1,1] = ((4 + 1)·6 + 1)·2 = 62.
    expect(token(6, 3)).toEqual([62, 63]);
    // The last token of the last window: x[1,3,5] = ((4 + 3)·6 + 5)·2 = 94.
    expect(token(11, 3)).toEqual([94, 95]);
  });

  it("matches the definition at every element", () => {
    const [N, H, W, C, w] = [2, 6, 9, 2, 3];
    const parts = tf.tidy(() => windowPartition(iota([N, H, W, C]), w).dataSync());
    const expected: number[] = [];
    for (let n = 0; n < N; n++)
      for (let wr = 0; wr < H / w; wr++)
        for (let wc = 0; wc < W / w; wc++)
          for (let r = 0; r < w; r++)
            for (let cc = 0; cc < w; cc++)
              for (let c = 0; c < C; c++) expected.push(((n * H + wr * w + r) * W + wc * w + cc) * C + c);
    expect(Array.from(parts)).toEqual(expected);
  });

  it("a global window is a plain reshape to [N, H·W, C]", () => {
    const parts = tf.tidy(() => windowPartition(iota([2, 4, 4, 3]), 4).dataSync());
    expect(Array.from(parts)).toEqual(Array.from({ length: 2 * 16 * 3 }, (_, i) => i));
  });
});

describe("relative position index (Swin, row-major tokens)", () => {
  const matrix = (w: number) => {
    const flat = Array.from(relativePositionIndex(w));
    const t = w * w;
    return Array.from({ length: t }, (_, i) => flat.slice(i * t, (i + 1) * t));
  };

  it("is [0] for a 1×1 window", () => {
    expect(matrix(1)).toEqual([[0]]);
  });

  it("matches the hand-worked 2×2 window", () => {
    // Tokens 0:(0,0) 1:(0,1) 2:(1,0) 3:(1,1); idx = (ri − rj + 1)·3 + (ci − cj + 1).
    expect(matrix(2)).toEqual([
      [4, 3, 1, 0],
      [5, 4, 2, 1],
      [7, 6, 4, 3],
      [8, 7, 5, 4],
    ]);
  });

  it("matches the hand-worked 3×3 window", () => {
    // Tokens i = 3r + c; idx = (ri − rj + 2)·5 + (ci − cj + 2); the diagonal is the centre 12.
    expect(matrix(3)).toEqual([
      [12, 11, 10, 7, 6, 5, 2, 1, 0],
      [13, 12, 11, 8, 7, 6, 3, 2, 1],
      [14, 13, 12, 9, 8, 7, 4, 3, 2],
      [17, 16, 15, 12, 11, 10, 7, 6, 5],
      [18, 17, 16, 13, 12, 11, 8, 7, 6],
      [19, 18, 17, 14, 13, 12, 9, 8, 7],
      [22, 21, 20, 17, 16, 15, 12, 11, 10],
      [23, 22, 21, 18, 17, 16, 13, 12, 11],
      [24, 23, 22, 19, 18, 17, 14, 13, 12],
    ]);
  });

  it("covers every table row, is centred on the diagonal and antisymmetric about the centre", () => {
    for (const w of [1, 2, 4, 8]) {
      const m = matrix(w);
      const span = 2 * w - 1;
      const centre = (w - 1) * span + (w - 1);
      const seen = new Set(m.flat());
      expect(seen.size).toBe(span * span);
      expect(Math.min(...seen)).toBe(0);
      expect(Math.max(...seen)).toBe(span * span - 1);
      m.forEach((row, i) => {
        expect(row[i]).toBe(centre);
        row.forEach((v, j) => {
          expect(v + (m[j]?.[i] ?? Number.NaN)).toBe(2 * centre);
        });
      });
    }
  });
});
