// EDM (Karras et al. 2022), the image-space formulation of DiffiT [S.I.1], written once for every
// engine (./scalar-ops.ts):
//   D(x; σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x; c_noise(σ)),  loss λ(σ)·(D(x + σn; σ) − x)²
// with λ = 1/c_out², training noise levels ln σ ~ N(P_mean, P_std²), and the sampler's levels
// σ_i = (σ_max^(1/ρ) + i/(N−1)·(σ_min^(1/ρ) − σ_max^(1/ρ)))^ρ. The paper does not say which
// preconditioning (DIFFIT.md §7.7); EDM's own is the default, VP and VE are available (EDM Table 1).
import type { DiffusionConfig } from "../schema/sections.ts";
import { numberOps, type Operand, type ScalarOps } from "./scalar-ops.ts";

export type EdmConfig = Extract<DiffusionConfig, { kind: "edm" }>;
type Preconditioned = Pick<EdmConfig, "preconditioning" | "sigmaData">;

/** The factors of D around the network; 1 (a plain number) where a preconditioning has none. */
export interface Scalings<T> {
  cSkip: Operand<T>;
  cOut: Operand<T>;
  cIn: Operand<T>;
}

// VP constants of EDM Table 1 (β_d, β_min, M).
const VP_BETA_D = 19.9;
const VP_BETA_MIN = 0.1;
const VP_M = 1000;

/** c_skip, c_out and c_in of noise level σ (EDM Table 1). */
export function edmScalings<T>(ops: ScalarOps<T>, c: Preconditioned, sigma: T): Scalings<T> {
  switch (c.preconditioning) {
    case "edm": {
      const sd2 = c.sigmaData * c.sigmaData;
      const s2 = ops.add(ops.square(sigma), sd2);
      const root = ops.sqrt(s2);
      return {
        cSkip: ops.div(sd2, s2),
        cOut: ops.div(ops.mul(sigma, c.sigmaData), root),
        cIn: ops.div(1, root),
      };
    }
    case "ve":
      return { cSkip: 1, cOut: sigma, cIn: 1 };
    case "vp":
      return { cSkip: 1, cOut: ops.neg(sigma), cIn: ops.div(1, ops.sqrt(ops.add(ops.square(sigma), 1))) };
  }
}

/** c_noise(σ), the network's noise input (EDM Table 1; VP: (M − 1)·t(σ)). */
export function edmNoiseInput<T>(ops: ScalarOps<T>, c: Preconditioned, sigma: T): T {
  switch (c.preconditioning) {
    case "edm":
      return ops.div(ops.log(sigma), 4);
    case "ve":
      return ops.log(ops.mul(0.5, sigma));
    case "vp": {
      // t(σ) = (√(β_min² + 2β_d·ln(σ² + 1)) − β_min)/β_d
      const lnS2p1 = ops.log(ops.add(ops.square(sigma), 1));
      const t = ops.div(
        ops.sub(ops.sqrt(ops.add(VP_BETA_MIN ** 2, ops.mul(2 * VP_BETA_D, lnS2p1))), VP_BETA_MIN),
        VP_BETA_D,
      );
      return ops.mul(t, VP_M - 1);
    }
  }
}

/** The network's input c_in·x. */
export const edmNetworkInput = <T>(ops: ScalarOps<T>, x: T, s: Scalings<T>): T => ops.mul(x, s.cIn);

/** D = c_skip·x + c_out·F from the network output F. */
export const edmDenoised = <T>(ops: ScalarOps<T>, x: T, f: T, s: Scalings<T>): T =>
  ops.add(ops.mul(x, s.cSkip), ops.mul(f, s.cOut));

/** The loss weight λ(σ) = 1/c_out², which makes the network's effective target unit-variance. */
export const edmLossWeight = <T>(ops: ScalarOps<T>, s: Scalings<T>): T => ops.div(1, ops.square(s.cOut));

/** The noisy training input x + σ·n. */
export const edmNoisy = <T>(ops: ScalarOps<T>, x: T, noise: T, sigma: T): T =>
  ops.add(x, ops.mul(noise, sigma));

/** One element of the loss, λ·(D − x)², before the mean. */
export const edmLossElement = <T>(ops: ScalarOps<T>, weight: Operand<T>, denoised: T, x: T): T =>
  ops.mul(weight, ops.square(ops.sub(denoised, x)));

/** A training noise level from a standard normal draw n: σ = exp(P_mean + P_std·n). */
export const edmTrainingSigma = <T>(ops: ScalarOps<T>, c: Pick<EdmConfig, "pMean" | "pStd">, normal: T): T =>
  ops.exp(ops.add(c.pMean, ops.mul(c.pStd, normal)));

/** The sampler's noise level at fraction i/(N−1) of the way from σ_max to σ_min. */
export function karrasSigma<T>(
  ops: ScalarOps<T>,
  c: Pick<EdmConfig, "sigmaMin" | "sigmaMax" | "rho">,
  frac: T,
): T {
  const inv = 1 / c.rho;
  return ops.pow(ops.add(c.sigmaMax ** inv, ops.mul(frac, c.sigmaMin ** inv - c.sigmaMax ** inv)), c.rho);
}

/** EDM's sampling noise levels for `steps` steps, then 0. */
export function karrasSigmas(c: Pick<EdmConfig, "sigmaMin" | "sigmaMax" | "rho">, steps: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < steps; i++) out.push(karrasSigma(numberOps, c, steps === 1 ? 0 : i / (steps - 1)));
  out.push(0);
  return out;
}

/** The probability-flow ODE's slope dx/dσ = (x − D)/σ (EDM eq. 3 with σ(t) = t). */
export const edmSlope = <T>(ops: ScalarOps<T>, x: T, denoised: T, sigma: number): T =>
  ops.div(ops.sub(x, denoised), sigma);

/** An Euler step from σ to σ_next along `slope` (EDM Alg. 1, line 5). */
export const eulerStep = <T>(ops: ScalarOps<T>, x: T, slope: T, sigma: number, next: number): T =>
  ops.add(x, ops.mul(slope, next - sigma));

/** Heun's correction: the step along the mean of the slopes at σ and σ_next (EDM Alg. 1, line 8). */
export const heunStep = <T>(
  ops: ScalarOps<T>,
  x: T,
  slope: T,
  slopeNext: T,
  sigma: number,
  next: number,
): T => ops.add(x, ops.mul(ops.add(slope, slopeNext), 0.5 * (next - sigma)));
