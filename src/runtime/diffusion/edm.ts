// EDM (Karras et al. 2022) on tfjs: the denoiser and training loss over the formulas of
// src/compiler/formulas/edm.ts. The per-sample factors are computed in float64 from each σ and
// enter the graph as float32 columns; the products with the images are tfjs ops.
import * as tf from "@tensorflow/tfjs";
import {
  type EdmConfig,
  edmDenoised,
  edmLossElement,
  edmLossWeight,
  edmNetworkInput,
  edmNoiseInput,
  edmNoisy,
  edmScalings,
} from "../../compiler/formulas/edm.ts";
import { numberOps } from "../../compiler/formulas/scalar-ops.ts";
import { tfjsOps } from "../tfjs-scalar-ops.ts";

export { karrasSigmas } from "../../compiler/formulas/edm.ts";
export type { EdmConfig };

export interface Scalings {
  cSkip: number;
  cOut: number;
  cIn: number;
  cNoise: number;
}

/** The preconditioning of one noise level, in float64. */
export function scalings(c: EdmConfig, sigma: number): Scalings {
  return { ...edmScalings(numberOps, c, sigma), cNoise: edmNoiseInput(numberOps, c, sigma) };
}

/** Per-sample scalings as [N, 1, 1, 1] tensors (c_noise as [N]), and the loss weight λ(σ). */
export function scalingTensors(c: EdmConfig, sigmas: readonly number[]) {
  const s = sigmas.map((x) => scalings(c, x));
  const col = (f: (x: Scalings) => number) => tf.tensor4d(s.map(f), [s.length, 1, 1, 1]);
  return {
    cSkip: col((x) => x.cSkip),
    cOut: col((x) => x.cOut),
    cIn: col((x) => x.cIn),
    cNoise: tf.tensor1d(s.map((x) => x.cNoise)),
    weight: col((x) => edmLossWeight(numberOps, x)),
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
    const f = net(edmNetworkInput(tfjsOps, x, s), s.cNoise, y);
    return edmDenoised(tfjsOps, x, f, s);
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
    const noisy = edmNoisy(tfjsOps, x, noise, tf.tensor4d([...sigmas], [sigmas.length, 1, 1, 1]));
    const d = edmDenoised(tfjsOps, noisy, net(edmNetworkInput(tfjsOps, noisy, s), s.cNoise, y), s);
    return tf.mean(edmLossElement(tfjsOps, s.weight, d, x)) as tf.Scalar;
  });
}
