// Sample-quality metrics: the eigen-solver and matrix square root, FID against closed forms,
// KID's estimator and its behaviour on equal and shifted distributions, class-conditional
// accuracy; plus one small smoke test of the evaluation classifier (training, save/load, cache).
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { formatKid } from "../src/commands/eval.ts";
import { selectBackend } from "../src/runtime/backend.ts";
import { loadData } from "../src/runtime/data/load-data.ts";
import {
  FEATURE_DIM,
  loadClassifier,
  loadOrTrainClassifier,
  NUM_CLASSES,
  saveClassifier,
  trainClassifier,
} from "../src/runtime/eval/classifier.ts";
import {
  classConditionalAccuracy,
  fid,
  frechetDistance,
  gaussianStats,
  kid,
  sqrtPsd,
  symmetricEigen,
  traceSqrtProduct,
} from "../src/runtime/eval/metrics.ts";
import { Rng } from "../src/runtime/random.ts";

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return m;
};

function matMul(a: ArrayLike<number>, b: ArrayLike<number>, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++)
      for (let j = 0; j < n; j++)
        c[i * n + j] = (c[i * n + j] ?? 0) + (a[i * n + k] ?? 0) * (b[k * n + j] ?? 0);
  return c;
}

const transpose = (a: ArrayLike<number>, n: number) =>
  Float64Array.from({ length: n * n }, (_, k) => a[(k % n) * n + Math.floor(k / n)] ?? 0);

/** A random SPD matrix B·Bᵀ + εI. */
function randomSpd(n: number, seed: number, eps = 0.1): Float64Array {
  const rng = new Rng(seed);
  const b = Float64Array.from({ length: n * n }, () => rng.normal());
  const a = matMul(b, transpose(b, n), n);
  for (let i = 0; i < n; i++) a[i * n + i] = (a[i * n + i] ?? 0) + eps;
  return a;
}

/** Row-major samples of N(mean, diag(variances)). */
function gaussianSamples(count: number, mean: number[], variances: number[], seed: number): Float64Array {
  const d = mean.length;
  const rng = new Rng(seed);
  const out = new Float64Array(count * d);
  for (let r = 0; r < count; r++)
    for (let i = 0; i < d; i++) out[r * d + i] = (mean[i] ?? 0) + Math.sqrt(variances[i] ?? 0) * rng.normal();
  return out;
}

describe("symmetric eigen-decomposition", () => {
  it("reconstructs a random SPD matrix with orthonormal eigenvectors", () => {
    const n = 24;
    const a = randomSpd(n, 1);
    const { values, vectors } = symmetricEigen(a, n);
    const scaled = Float64Array.from(vectors, (v, k) => v * (values[k % n] ?? 0));
    const back = matMul(scaled, transpose(vectors, n), n);
    const norm = Math.max(...a.map(Math.abs));
    // Backward-stable: errors of a few ulps of ‖A‖ times n.
    expect(maxAbs(back, a) / norm).toBeLessThan(1e-12);
    const gram = matMul(transpose(vectors, n), vectors, n);
    const eye = Float64Array.from({ length: n * n }, (_, k) => (k % (n + 1) === 0 ? 1 : 0));
    expect(maxAbs(gram, eye)).toBeLessThan(1e-12);
    for (let i = 1; i < n; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1] ?? 0);
    expect(values[0]).toBeGreaterThan(0);
  });

  it("finds known eigenvalues, including repeated ones and a zero matrix", () => {
    expect([...symmetricEigen([2, 1, 1, 2], 2).values]).toEqual([
      expect.closeTo(1, 14),
      expect.closeTo(3, 14),
    ]);
    expect([...symmetricEigen([5, 0, 0, 0, 5, 0, 0, 0, 5], 3).values]).toEqual([5, 5, 5]);
    expect([...symmetricEigen(new Float64Array(9), 3).values]).toEqual([0, 0, 0]);
  });

  it("square root of an SPD matrix squares back to it", () => {
    const n = 16;
    const a = randomSpd(n, 2);
    const s = sqrtPsd(a, n);
    expect(maxAbs(s, transpose(s, n))).toBeLessThan(1e-12);
    expect(maxAbs(matMul(s, s, n), a) / Math.max(...a.map(Math.abs))).toBeLessThan(1e-12);
  });

  it("clamps round-off negative eigenvalues of a singular PSD matrix", () => {
    // Rank 1: v vᵀ has eigenvalues 0, 0, ‖v‖²; round-off can make the zeros slightly negative.
    const v = [0.3, -1.7, 2.9];
    const a = Float64Array.from({ length: 9 }, (_, k) => (v[Math.floor(k / 3)] ?? 0) * (v[k % 3] ?? 0));
    const s = sqrtPsd(a, 3);
    expect(s.every(Number.isFinite)).toBe(true);
    expect(maxAbs(matMul(s, s, 3), a)).toBeLessThan(1e-12);
  });
});

describe("Fréchet distance", () => {
  it("matches the diagonal closed form ‖μ1−μ2‖² + Σ(σ1 + σ2 − 2√(σ1σ2))", () => {
    const d = 6;
    const mu1 = [0, 1, -2, 0.5, 3, 0];
    const mu2 = [1, 1, 0, -0.5, 2, 0.25];
    const v1 = [1, 2, 0.5, 4, 0.1, 1];
    const v2 = [2, 2, 1, 0.25, 3, 1];
    const diag = (v: number[]) =>
      Float64Array.from({ length: d * d }, (_, k) => (k % (d + 1) === 0 ? (v[k / (d + 1)] ?? 0) : 0));
    let expected = 0;
    for (let i = 0; i < d; i++) {
      const a = v1[i] ?? 0;
      const b = v2[i] ?? 0;
      expected += ((mu1[i] ?? 0) - (mu2[i] ?? 0)) ** 2 + a + b - 2 * Math.sqrt(a * b);
    }
    const got = frechetDistance({ mean: mu1, cov: diag(v1) }, { mean: mu2, cov: diag(v2) }, d);
    expect(got).toBeCloseTo(expected, 12);
  });

  it("matches Tr√(ΣaΣb) = √(tr ΣaΣb + 2√det ΣaΣb) for non-commuting 2×2 covariances", () => {
    for (let seed = 0; seed < 20; seed++) {
      const a = randomSpd(2, 100 + seed, 0.01);
      const b = randomSpd(2, 200 + seed, 0.01);
      const m = matMul(a, b, 2);
      const det = (m[0] ?? 0) * (m[3] ?? 0) - (m[1] ?? 0) * (m[2] ?? 0);
      const expected = Math.sqrt((m[0] ?? 0) + (m[3] ?? 0) + 2 * Math.sqrt(det));
      expect(traceSqrtProduct(a, b, 2)).toBeCloseTo(expected, 10);
    }
  });

  it("matches Σ√(aᵢbᵢ) for covariances sharing a random rotation", () => {
    const n = 12;
    const q = symmetricEigen(randomSpd(n, 5), n).vectors;
    const rng = new Rng(6);
    const ea = Array.from({ length: n }, () => 0.1 + 3 * rng.uniform());
    const eb = Array.from({ length: n }, () => 0.1 + 3 * rng.uniform());
    const rotate = (e: number[]) =>
      matMul(
        Float64Array.from(q, (v, k) => v * (e[k % n] ?? 0)),
        transpose(q, n),
        n,
      );
    const expected = ea.reduce((s, a, i) => s + Math.sqrt(a * (eb[i] ?? 0)), 0);
    expect(traceSqrtProduct(rotate(ea), rotate(eb), n)).toBeCloseTo(expected, 10);
  });

  it("is symmetric for non-commuting covariances", () => {
    const n = 10;
    const a = { mean: new Float64Array(n).fill(0.5), cov: randomSpd(n, 7) };
    const b = { mean: new Float64Array(n), cov: randomSpd(n, 8) };
    const ab = frechetDistance(a, b, n);
    const ba = frechetDistance(b, a, n);
    expect(ab).toBeGreaterThan(0);
    expect(Math.abs(ab - ba) / ab).toBeLessThan(1e-10);
  });
});

describe("FID on samples", () => {
  const d = 8;
  const mu1 = [0, 0, 0, 0, 1, 1, -1, 0];
  const mu2 = [0.5, 0, -0.5, 0, 1, 2, -1, 0];
  const v1 = [1, 1, 2, 0.5, 1, 3, 1, 0.25];
  const v2 = [1, 2, 2, 0.5, 0.5, 3, 1, 1];

  it("is ≈ 0 for a set against itself", () => {
    const x = gaussianSamples(2000, mu1, v1, 1);
    // Exactly zero in exact arithmetic; round-off is ~1e-12 of the trace (≈ 18).
    expect(fid(x, x, d)).toBeLessThan(1e-8);
  });

  it("approaches the closed form for large samples of two diagonal Gaussians", () => {
    let expected = 0;
    for (let i = 0; i < d; i++) {
      const a = v1[i] ?? 0;
      const b = v2[i] ?? 0;
      expected += ((mu1[i] ?? 0) - (mu2[i] ?? 0)) ** 2 + a + b - 2 * Math.sqrt(a * b);
    }
    const n = 100_000;
    const got = fid(gaussianSamples(n, mu1, v1, 2), gaussianSamples(n, mu2, v2, 3), d);
    // expected = 2.007. The sample estimate's spread is dominated by the cross term 2Δμ·(μ̂ − μ):
    // std √(4 Σ Δμᵢ²(σ1ᵢ + σ2ᵢ)/n) = 0.017, with ~0.01 from the variances; its bias is
    // tr(Σ1 + Σ2)/n + O(d²σ²/n) ≈ 1e-3. 0.08 is ~4σ, and a wrong formula is off by ≥ 0.1.
    expect(Math.abs(got - expected)).toBeLessThan(0.08);
  });

  it("is symmetric in its arguments", () => {
    const a = gaussianSamples(3000, mu1, v1, 4);
    const b = gaussianSamples(2000, mu2, v2, 5);
    const ab = fid(a, b, d);
    expect(Math.abs(ab - fid(b, a, d)) / ab).toBeLessThan(1e-10);
  });

  it("fits mean and unbiased covariance like numpy", () => {
    const s = gaussianStats([1, 2, 3, 6, 5, 10], 2);
    expect([...s.mean]).toEqual([3, 6]);
    expect([...s.cov]).toEqual([4, 8, 8, 16]);
  });

  it("rejects features that do not fit the dimension", () => {
    expect(() => fid(new Float32Array(10), new Float32Array(12), 4)).toThrow(/whole number/);
  });
});

describe("KID", () => {
  const d = 16;
  const zeros = new Array<number>(d).fill(0);
  const ones = new Array<number>(d).fill(1);

  it("equals the unbiased MMD² computed directly when the subset is the whole set", () => {
    const n = 7; // one block of four rows and three left over
    const dim = 3;
    const x = gaussianSamples(n, [0, 0, 0], [1, 1, 1], 10);
    const y = gaussianSamples(n, [0.3, 0, -0.2], [1, 2, 1], 11);
    const k = (a: Float64Array, i: number, b: Float64Array, j: number) => {
      let dot = 0;
      for (let c = 0; c < dim; c++) dot += (a[i * dim + c] ?? 0) * (b[j * dim + c] ?? 0);
      return (dot / dim + 1) ** 3;
    };
    let xx = 0;
    let yy = 0;
    let xy = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (i !== j) {
          xx += k(x, i, x, j);
          yy += k(y, i, y, j);
        }
        xy += k(x, i, y, j);
      }
    }
    const expected = (xx + yy) / (n * (n - 1)) - (2 * xy) / (n * n);
    const r = kid(x, y, dim, { subsets: 3, subsetSize: 100, seed: 0 });
    expect(r.subsetSize).toBe(n);
    for (const v of r.values) expect(v).toBeCloseTo(expected, 10);
    expect(r.std).toBeLessThan(1e-12);
  });

  it("is reported without a spread when the subset is the whole of both sets (eval's n ≤ 1000)", () => {
    const whole = kid(gaussianSamples(40, zeros, ones, 3), gaussianSamples(40, zeros, ones, 4), d, {
      subsets: 5,
      subsetSize: 1000,
      seed: 0,
    });
    const k = {
      mean: whole.mean,
      std: whole.std,
      subsets: whole.values.length,
      subsetSize: whole.subsetSize,
    };
    expect(formatKid(k, 40, 40)).toMatch(/one subset: all 40 samples and real images, so no spread/);
    expect(formatKid({ ...k, subsetSize: 30 }, 40, 40)).toMatch(/± \d\.\d{5} \(5 subsets of 30\)/);
  });

  it("is ≈ 0 (within its spread) for two samples of one distribution", () => {
    const a = gaussianSamples(1500, zeros, ones, 20);
    const b = gaussianSamples(1500, zeros, ones, 21);
    const r = kid(a, b, d, { subsets: 20, subsetSize: 300, seed: 1 });
    expect(r.std).toBeGreaterThan(0);
    // The unbiased estimator has expectation 0: the mean of 20 subsets lies well within 3σ of one.
    expect(Math.abs(r.mean)).toBeLessThan(3 * r.std);
  });

  it("is clearly > 0 for shifted distributions, growing with the shift", () => {
    const a = gaussianSamples(1500, zeros, ones, 22);
    const near = kid(a, gaussianSamples(1500, new Array<number>(d).fill(0.3), ones, 23), d, {
      subsets: 20,
      subsetSize: 300,
      seed: 1,
    });
    const far = kid(a, gaussianSamples(1500, new Array<number>(d).fill(1), ones, 24), d, {
      subsets: 20,
      subsetSize: 300,
      seed: 1,
    });
    expect(near.mean).toBeGreaterThan(5 * near.std);
    expect(far.mean).toBeGreaterThan(near.mean);
    expect(far.mean).toBeGreaterThan(5 * far.std);
  });

  it("is deterministic for a seed", () => {
    const a = gaussianSamples(400, zeros, ones, 30);
    const b = gaussianSamples(500, zeros, ones, 31);
    const o = { subsets: 5, subsetSize: 100, seed: 9 };
    expect(kid(a, b, d, o).values).toEqual(kid(a, b, d, o).values);
  });
});

describe("class-conditional accuracy", () => {
  it("counts matches overall and per intended class, with a confusion matrix", () => {
    const r = classConditionalAccuracy([0, 1, 1, 2, 2, 2], [0, 1, 2, 2, 2, 0], 3);
    expect(r.accuracy).toBeCloseTo(4 / 6, 12);
    expect(r.correct).toBe(4);
    expect(r.perClass.map((c) => c.count)).toEqual([2, 1, 3]);
    expect(r.perClass.map((c) => c.correct)).toEqual([1, 1, 2]);
    expect(r.confusion).toEqual([
      [1, 0, 1],
      [0, 1, 0],
      [0, 1, 2],
    ]);
    expect(() => classConditionalAccuracy([0, 1], [0])).toThrow();
    expect(() => classConditionalAccuracy([0, 5], [0, 1], 3)).toThrow(/out of range/);
  });
});

describe("evaluation classifier (smoke)", () => {
  const dataPath = fileURLToPath(new URL("../data/fashion-mnist/", import.meta.url));

  beforeAll(async () => {
    await selectBackend("wasm");
  });

  it("trains (loss falls), round-trips through safetensors bit for bit, and is cached", async () => {
    const train = loadData(dataPath, { size: 32, channels: 1, split: "train", limit: 256 });
    const opts = { epochs: 3, batchSize: 32, lr: 3e-3, seed: 0 };
    const tensorsBefore = tf.memory().numTensors;
    const r = await trainClassifier(train, opts);
    // Nothing but the classifier's own variables outlives training (no leaked step tensors).
    expect(tf.memory().numTensors - tensorsBefore).toBe(r.classifier.vars.size);
    expect(r.losses.length).toBe(24);
    const [first = 0, , last = 0] = r.epochLosses;
    expect(first).toBeGreaterThan(last);
    // Features are normalised to unit RMS over the training images.
    const feats = r.classifier.classify(train.images).features;
    expect(Math.sqrt(feats.reduce((acc, v) => acc + v * v, 0) / feats.length)).toBeCloseTo(1, 4);

    const dir = mkdtempSync(join(tmpdir(), "diffit-cls-"));
    const file = join(dir, "c.safetensors");
    saveClassifier(file, r.classifier, { trainCount: 256, testAccuracy: 0.5, testCount: 10 });
    const loaded = loadClassifier(file);
    expect(loaded.metadata.trainCount).toBe(256);
    expect(loaded.metadata.testAccuracy).toBe(0.5);
    for (const [name, w] of r.classifier.weights()) expect(loaded.classifier.weights().get(name)).toEqual(w);
    const images = train.images.subarray(0, 20 * 32 * 32);
    const before = tf.memory().numTensors;
    const a = r.classifier.classify(images, 8);
    expect(tf.memory().numTensors).toBe(before); // batches are disposed
    const b = loaded.classifier.classify(images, 8);
    expect(a.logits.length).toBe(20 * NUM_CLASSES);
    expect(a.features.length).toBe(20 * FEATURE_DIM);
    expect(b.logits).toEqual(a.logits);
    expect(b.features).toEqual(a.features);
    r.classifier.dispose();
    loaded.classifier.dispose();

    const cacheDir = join(dir, "cache");
    let progress = 0;
    const cached = { epochs: 1, batchSize: 32, lr: 3e-3, seed: 0, trainLimit: 128, testLimit: 64 };
    const c1 = await loadOrTrainClassifier(cacheDir, dataPath, { ...cached, onProgress: () => progress++ });
    expect(c1.trained).toBe(true);
    expect(progress).toBe(4);
    expect(c1.metadata.testCount).toBe(64);
    expect(c1.metadata.testAccuracy).toBeGreaterThanOrEqual(0);
    const c2 = await loadOrTrainClassifier(cacheDir, dataPath, { ...cached, onProgress: () => progress++ });
    expect(c2.trained).toBe(false);
    expect(progress).toBe(4);
    expect(c2.path).toBe(c1.path);
    expect(c2.metadata.testAccuracy).toBe(c1.metadata.testAccuracy);
    expect(c2.classifier.weights()).toEqual(c1.classifier.weights());
    // Other options train into another file.
    const c3 = await loadOrTrainClassifier(cacheDir, dataPath, { ...cached, seed: 1 });
    expect(c3.trained).toBe(true);
    expect(c3.path).not.toBe(c1.path);
    expect(readdirSync(cacheDir).length).toBe(2);
    for (const c of [c1, c2, c3]) c.classifier.dispose();
  }, 60_000);
});
