// EDM: the preconditioning formulas, the noise levels, and the samplers on a data distribution
// whose ideal denoiser is known in closed form, plus classifier-free guidance mixing.
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { type EdmConfig, karrasSigmas, scalings } from "../src/runtime/diffusion/edm.ts";
import { Rng } from "../src/runtime/random.ts";
import { gaussian, sampleEdm } from "../src/runtime/sampling/edm-sampler.ts";
import { guidanceScale, guide } from "../src/runtime/sampling/guidance.ts";

const edm: EdmConfig = {
  kind: "edm",
  sigmaData: 0.5,
  pMean: -1.2,
  pStd: 1.2,
  sigmaMin: 0.002,
  sigmaMax: 80,
  rho: 7,
  preconditioning: "edm",
};

describe("EDM preconditioning", () => {
  it("matches EDM Table 1 at σ = 1 (σ_data = 0.5)", () => {
    const s = scalings(edm, 1);
    expect(s.cSkip).toBeCloseTo(0.25 / 1.25, 12);
    expect(s.cOut).toBeCloseTo(0.5 / Math.sqrt(1.25), 12);
    expect(s.cIn).toBeCloseTo(1 / Math.sqrt(1.25), 12);
    expect(s.cNoise).toBe(0);
  });

  it("makes the effective training target unit-variance: c_skip²σ_d² + c_out² = σ_d² ... and 1/c_out² is EDM's λ", () => {
    for (const sigma of [0.01, 0.3, 2, 50]) {
      const s = scalings(edm, sigma);
      // (1 − c_skip)²σ_d² + c_skip²σ² = c_out² (EDM eq. 131-ish: the target F has unit variance).
      expect((1 - s.cSkip) ** 2 * 0.25 + s.cSkip ** 2 * sigma ** 2).toBeCloseTo(s.cOut ** 2, 10);
      expect(1 / s.cOut ** 2).toBeCloseTo((sigma ** 2 + 0.25) / (sigma * 0.5) ** 2, 8);
    }
  });

  it("has the VE and VP forms", () => {
    expect(scalings({ ...edm, preconditioning: "ve" }, 4)).toEqual({
      cSkip: 1,
      cOut: 4,
      cIn: 1,
      cNoise: Math.log(2),
    });
    const vp = scalings({ ...edm, preconditioning: "vp" }, 1);
    expect(vp.cOut).toBe(-1);
    expect(vp.cIn).toBeCloseTo(1 / Math.SQRT2, 12);
    // σ(t) = √(e^{½β_d t² + β_min t} − 1) inverted at σ = 1, times M − 1 = 999.
    const t = vp.cNoise / 999;
    expect(Math.sqrt(Math.exp(0.5 * 19.9 * t * t + 0.1 * t) - 1)).toBeCloseTo(1, 10);
  });

  it("spaces noise levels from σ_max to σ_min with ρ = 7, then 0", () => {
    const s = karrasSigmas(edm, 18);
    expect(s).toHaveLength(19);
    expect(s[0]).toBeCloseTo(80, 10);
    expect(s[17]).toBeCloseTo(0.002, 12);
    expect(s[18]).toBe(0);
    for (let i = 1; i < s.length; i++) expect(s[i] ?? 0).toBeLessThan(s[i - 1] ?? 0);
  });
});

describe("EDM samplers", () => {
  // Data N(0, s²) per pixel: the ideal denoiser is D(x; σ) = x·s²/(s² + σ²). The probability-flow
  // ODE then maps N(0, σ_max²) exactly onto N(0, s²): sample std tests the integrator.
  const s = 0.5;
  const oracle = (x: tf.Tensor, cNoise: tf.Tensor) =>
    tf.tidy(() => {
      // Invert D = c_skip·x_in/c_in + c_out·F for the F that yields the ideal D.
      const sigma = tf.exp(tf.mul(cNoise, 4)).reshape([-1, 1, 1, 1]);
      const xNoisy = tf.div(x, tf.div(1, tf.sqrt(tf.add(tf.square(sigma), 0.25))));
      const ideal = tf.mul(xNoisy, tf.div(s * s, tf.add(s * s, tf.square(sigma))));
      const cSkip = tf.div(0.25, tf.add(tf.square(sigma), 0.25));
      const cOut = tf.div(tf.mul(sigma, 0.5), tf.sqrt(tf.add(tf.square(sigma), 0.25)));
      return tf.div(tf.sub(ideal, tf.mul(cSkip, xNoisy)), cOut);
    });

  /** The same integrator in float64 on the scalar ODE dx/dσ = xσ/(s² + σ²): the factor x_0/x_T. */
  const reference = (sampler: "heun" | "euler", steps: number) => {
    const sig = karrasSigmas(edm, steps);
    let x = 1;
    for (let i = 0; i < steps; i++) {
      const a = sig[i] ?? 0;
      const b = sig[i + 1] ?? 0;
      const f = (v: number, g: number) => (v * g) / (s * s + g * g);
      let next = x + (b - a) * f(x, a);
      if (sampler === "heun" && b > 0) next = x + (b - a) * 0.5 * (f(x, a) + f(next, b));
      x = next;
    }
    return x;
  };

  it.each([
    ["heun", 18, 35],
    ["euler", 18, 18],
  ] as const)(
    "%s with %i steps reports NFE %i and integrates the ODE as a float64 reference does",
    (sampler, steps, nfe) => {
      const r = sampleEdm(edm, (x, t) => oracle(x, t), [4, 2, 2, 1], { sampler, steps, seed: 1 });
      expect(r.nfe).toBe(nfe);
      // The ODE is linear in x, so every pixel ends at the same multiple of its start x_T = σ_max·z,
      // z being the sampler's seeded draw.
      const z = gaussian(new Rng(1, "sample/edm"), 16);
      const factor = reference(sampler, steps);
      const out = r.images.dataSync();
      // float32 arithmetic over up to 35 network evaluations: ~1e-6 relative per step.
      for (let i = 0; i < 16; i++)
        expect(Math.abs((out[i] ?? 0) / ((z[i] ?? 1) * 80) / factor - 1)).toBeLessThan(1e-4);
      r.images.dispose();
    },
  );

  it("converges to the data distribution: 200 Heun steps give std s within 1%", () => {
    const r = sampleEdm(edm, (x, t) => oracle(x, t), [512, 4, 4, 1], {
      sampler: "heun",
      steps: 200,
      seed: 2,
    });
    const std = Math.sqrt(tf.moments(r.images).variance.dataSync()[0] ?? 0);
    // 8192 values: the std estimate varies by ~0.8% (1σ); discretisation error is ~1e-4 at 200 steps.
    expect(Math.abs(std / s - 1)).toBeLessThan(0.025);
    r.images.dispose();
  }, 30_000);
});

describe("classifier-free guidance", () => {
  it("mixes u + s(c − u) on the guided channels and keeps the conditional elsewhere", () => {
    const cond = tf.tensor4d([1, 10, 100, 1000], [1, 1, 1, 4]);
    const uncond = tf.tensor4d([0, 0, 0, 0], [1, 1, 1, 4]);
    expect([...guide(cond, uncond, 2, [0, 1, 2]).dataSync()]).toEqual([2, 20, 200, 1000]);
    expect([...guide(cond, uncond, 2, "all").dataSync()]).toEqual([2, 20, 200, 2000]);
  });

  it("ramps the power-cosine scale from 1 at the start to s at the end", () => {
    const g = { scale: 4.4, schedule: "power-cosine" as const, exponent: 4, channels: "all" as const };
    expect(guidanceScale(g, 1)).toBeCloseTo(1, 12);
    expect(guidanceScale(g, 0)).toBeCloseTo(4.4, 12);
    expect(guidanceScale(g, 0.5)).toBeCloseTo(1 + 3.4 * 0.5 * (1 - Math.cos(Math.PI * 0.5 ** 4)), 12);
    expect(guidanceScale({ ...g, schedule: "constant" }, 0.3)).toBe(4.4);
  });
});
