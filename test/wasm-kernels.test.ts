// The kernels registered for wasm (missing gradients and fast paths) compute what the cpu
// backend computes, on the same inputs. Tolerance: float32 sums of up to a few hundred
// products of O(1) values differ by reassociation only, ~1e-6 relative; 1e-4 absolute on
// outputs of magnitude ≤ ~30 leaves room for that and catches any indexing mistake (O(1)).
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../src/runtime/backend.ts";
import { Rng } from "../src/runtime/random.ts";

const TOL = 1e-4;

function randomArray(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}

/** Runs `f` on both backends with the same inputs; returns the max abs difference (printed). */
async function compare(label: string, f: () => tf.Tensor | tf.Tensor[]): Promise<number> {
  const run = async (backend: "cpu" | "wasm") => {
    await selectBackend(backend);
    const out = tf.tidy(f);
    const list = Array.isArray(out) ? out : [out];
    const values = list.map((t) => t.dataSync().slice());
    tf.dispose(list);
    return values;
  };
  const cpu = await run("cpu");
  const wasm = await run("wasm");
  let maxAbs = 0;
  cpu.forEach((a, i) => {
    const b = wasm[i] ?? new Float32Array();
    expect(b.length).toBe(a.length);
    for (let k = 0; k < a.length; k++) maxAbs = Math.max(maxAbs, Math.abs((a[k] ?? 0) - (b[k] ?? 0)));
  });
  console.log(`${label}: max abs error wasm vs cpu = ${maxAbs.toExponential(2)}`);
  return maxAbs;
}

beforeAll(async () => {
  await selectBackend("wasm"); // registers the kernels
});
afterAll(async () => {
  await selectBackend("wasm");
});

describe("Conv2DBackpropFilter on wasm (conv weight gradient)", () => {
  const cases: [string, number[], number[], number, "same" | "valid" | number][] = [
    ["3x3 s1 same", [2, 8, 8, 3], [3, 3, 3, 5], 1, "same"],
    ["3x3 s1 pad0", [2, 8, 8, 3], [3, 3, 3, 5], 1, 0],
    ["3x3 s2 pad1", [2, 9, 9, 4], [3, 3, 4, 6], 2, 1],
    ["2x2 s2 valid (patchify)", [1, 8, 8, 4], [2, 2, 4, 8], 2, "valid"],
    ["1x1", [2, 5, 5, 6], [1, 1, 6, 3], 1, 0],
  ];
  for (const [name, xs, ws, stride, pad] of cases) {
    it(name, async () => {
      const x = randomArray(
        xs.reduce((a, b) => a * b),
        1,
      );
      const w = randomArray(
        ws.reduce((a, b) => a * b),
        2,
      );
      const err = await compare(`dW ${name}`, () => {
        const xt = tf.tensor4d(x, xs as [number, number, number, number]);
        const g = tf.grad((wt: tf.Tensor) =>
          tf.sum(tf.square(tf.conv2d(xt, wt as tf.Tensor4D, stride, pad))),
        );
        return g(tf.tensor4d(w, ws as [number, number, number, number]));
      });
      expect(err).toBeLessThan(TOL * 10); // sums of squares: outputs up to ~1e3
    });
  }

  it("conv2dTranspose k4 s2 p1 weight gradient", async () => {
    const x = randomArray(2 * 4 * 4 * 3, 3);
    const w = randomArray(4 * 4 * 5 * 3, 4);
    const err = await compare("dW conv2dTranspose", () => {
      const xt = tf.tensor4d(x, [2, 4, 4, 3]);
      const g = tf.grad((wt: tf.Tensor) =>
        tf.sum(tf.conv2dTranspose(xt, wt as tf.Tensor4D, [2, 8, 8, 5], 2, 1)),
      );
      return g(tf.tensor4d(w, [4, 4, 5, 3]));
    });
    expect(err).toBeLessThan(TOL);
  });
});

describe("Conv2DBackpropInput on wasm (stride 1 as a flipped forward conv)", () => {
  const cases: [string, number[], number[], number, "same" | "valid" | number][] = [
    ["3x3 s1 same", [2, 6, 6, 3], [3, 3, 3, 4], 1, "same"],
    ["3x3 s1 pad1", [1, 7, 7, 2], [3, 3, 2, 3], 1, 1],
    ["3x3 s1 valid", [1, 7, 7, 2], [3, 3, 2, 3], 1, "valid"],
    ["3x3 s2 pad1 (native kernel)", [1, 8, 8, 2], [3, 3, 2, 3], 2, 1],
  ];
  for (const [name, xs, ws, stride, pad] of cases) {
    it(name, async () => {
      const x = randomArray(
        xs.reduce((a, b) => a * b),
        5,
      );
      const w = randomArray(
        ws.reduce((a, b) => a * b),
        6,
      );
      const err = await compare(`dx ${name}`, () => {
        const wt = tf.tensor4d(w, ws as [number, number, number, number]);
        const g = tf.grad((xt: tf.Tensor) =>
          tf.sum(tf.mul(tf.conv2d(xt as tf.Tensor4D, wt, stride, pad), 0.5)),
        );
        return g(tf.tensor4d(x, xs as [number, number, number, number]));
      });
      expect(err).toBeLessThan(TOL);
    });
  }
});

describe("UnsortedSegmentSum on wasm (gather gradient)", () => {
  it("sums rows by segment, dropping out-of-range ids", async () => {
    const x = randomArray(7 * 3, 7);
    const err = await compare("unsortedSegmentSum", () =>
      tf.unsortedSegmentSum(tf.tensor2d(x, [7, 3]), tf.tensor1d([0, 2, 2, 4, 0, 1, 2], "int32"), 5),
    );
    expect(err).toBeLessThan(TOL);
  });

  it("makes the gradient of a label-table gather work", async () => {
    const table = randomArray(11 * 4, 8);
    const err = await compare("gather grad", () => {
      const ids = tf.tensor1d([3, 10, 3, 0, 7], "int32");
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.gather(t, ids))));
      return g(tf.tensor2d(table, [11, 4]));
    });
    expect(err).toBeLessThan(TOL);
  });
});

describe("BatchMatMul on wasm (explicit transposes)", () => {
  for (const [ta, tb] of [
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    it(`2-D transposeA=${ta} transposeB=${tb}`, async () => {
      const a = randomArray(12 * 9, 9);
      const b = randomArray(9 * 12, 10);
      const err = await compare(`matMul ${ta} ${tb}`, () =>
        tf.matMul(tf.tensor2d(a, ta ? [9, 12] : [12, 9]), tf.tensor2d(b, tb ? [12, 9] : [9, 12]), ta, tb),
      );
      expect(err).toBeLessThan(TOL);
    });
  }

  it("batched transposed products are untouched and still right", async () => {
    const a = randomArray(3 * 5 * 4, 11);
    const b = randomArray(3 * 6 * 4, 12);
    const err = await compare("batched matMul", () =>
      tf.matMul(tf.tensor3d(a, [3, 5, 4]), tf.tensor3d(b, [3, 6, 4]), false, true),
    );
    expect(err).toBeLessThan(TOL);
  });

  it("dense-layer gradients (transposed products) match", async () => {
    const x = randomArray(16 * 8, 13);
    const w = randomArray(8 * 5, 14);
    const err = await compare("dense grads", () => {
      const g = tf.grads((xt: tf.Tensor, wt: tf.Tensor) =>
        tf.sum(tf.square(tf.matMul(xt as tf.Tensor2D, wt as tf.Tensor2D))),
      );
      return g([tf.tensor2d(x, [16, 8]), tf.tensor2d(w, [8, 5])]);
    });
    expect(err).toBeLessThan(TOL * 10);
  });
});
