// EDM (Karras et al. 2022), the image-space formulation of DiffiT [S.I.1]:
//   D(x; σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x; c_noise(σ)),  loss λ(σ)·‖D(x + σn; σ) − x‖²
// with λ = 1/c_out² and ln σ ~ N(P_mean, P_std²). The paper does not say which preconditioning
// (DIFFIT.md §7.7); EDM's own is the default, VP and VE are available (EDM Table 1).
import * as tf from "@tensorflow/tfjs";
import type { DiffusionConfig } from "../../compiler/schema/sections.ts";

export type EdmConfig = Extract<DiffusionConfig, { kind: "edm" }>;

export interface Scalings {
  cSkip: number;
  cOut: number;
  cIn: number;
  cNoise: number;
}

// VP constants of EDM Table 1 (β_d, β_min, M).
const VP_BETA_D = 19.9;
const VP_BETA_MIN = 0.1;
const VP_M = 1000;

/** The preconditioning of one noise level. */
export function scalings(c: EdmConfig, sigma: number): Scalings {
  switch (c.preconditioning) {
    case "edm": {
      const s2 = sigma * sigma + c.sigmaData * c.sigmaData;
      return {
        cSkip: (c.sigmaData * c.sigmaData) / s2,
        cOut: (sigma * c.sigmaData) / Math.sqrt(s2),
        cIn: 1 / Math.sqrt(s2),
        cNoise: Math.log(sigma) / 4,
      };
    }
    case "ve":
      return { cSkip: 1, cOut: sigma, cIn: 1, cNoise: Math.log(0.5 * sigma) };
    case "vp": {
      const t =
        (Math.sqrt(VP_BETA_MIN ** 2 + 2 * VP_BETA_D * Math.log(sigma * sigma + 1)) - VP_BETA_MIN) / VP_BETA_D;
      return { cSkip: 1, cOut: -sigma, cIn: 1 / Math.sqrt(sigma * sigma + 1), cNoise: (VP_M - 1) * t };
    }
  }
}

/** Per-sample scalings as [N, 1, 1, 1] tensors (c_noise as [N]). */
export function scalingTensors(c: EdmConfig, sigmas: readonly number[]) {
  const s = sigmas.map((x) => scalings(c, x));
  const col = (f: (x: Scalings) => number) => tf.tensor4d(s.map(f), [s.length, 1, 1, 1]);
  return {
    cSkip: col((x) => x.cSkip),
    cOut: col((x) => x.cOut),
    cIn: col((x) => x.cIn),
    cNoise: tf.tensor1d(s.map((x) => x.cNoise)),
    weight: col((x) => 1 / (x.cOut * x.cOut)),
  };
}

/** The raw network F(x_in, c_noise, y) as the denoiser sees it. */
export type Network = (xIn: tf.Tensor, cNoise: tf.Tensor, y: tf.Tensor | undefined) => tf.Tensor;

/** D(x; σ) for a batch with per-sample σ. */
export function denoise(
  c: EdmConfig,
  net: Network,
  x: tf.Tensor,
  sigmas: readonly number[],
  y?: tf.Tensor,
): tf.Tensor {
  return tf.tidy(() => {
    const s = scalingTensors(c, sigmas);
    const f = net(tf.mul(x, s.cIn), s.cNoise, y);
    return tf.add(tf.mul(x, s.cSkip), tf.mul(f, s.cOut));
  });
}

/** The EDM training loss for clean images x, noise levels σ and unit noise n: mean of λ(σ)·(D − x)². */
export function edmLoss(
  c: EdmConfig,
  net: Network,
  x: tf.Tensor,
  noise: tf.Tensor,
  sigmas: readonly number[],
  y?: tf.Tensor,
): tf.Scalar {
  return tf.tidy(() => {
    const s = scalingTensors(c, sigmas);
    const noisy = tf.add(x, tf.mul(noise, tf.tensor4d([...sigmas], [sigmas.length, 1, 1, 1])));
    const d = tf.add(tf.mul(noisy, s.cSkip), tf.mul(net(tf.mul(noisy, s.cIn), s.cNoise, y), s.cOut));
    return tf.mean(tf.mul(s.weight, tf.square(tf.sub(d, x)))) as tf.Scalar;
  });
}

/** EDM's sampling noise levels: σ_i = (σmax^(1/ρ) + i/(N−1)·(σmin^(1/ρ) − σmax^(1/ρ)))^ρ, then 0. */
export function karrasSigmas(c: EdmConfig, steps: number): number[] {
  const inv = 1 / c.rho;
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    const frac = steps === 1 ? 0 : i / (steps - 1);
    out.push((c.sigmaMax ** inv + frac * (c.sigmaMin ** inv - c.sigmaMax ** inv)) ** c.rho);
  }
  out.push(0);
  return out;
}
