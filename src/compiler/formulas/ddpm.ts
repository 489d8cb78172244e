// The DDPM / ADM Gaussian formulas (Ho et al. 2020; Nichol & Dhariwal 2021 and the ADM code),
// written once for every engine (./scalar-ops.ts), ε-prediction. The per-step constants (√ᾱ_t,
// μ̃_t's coefficients, log β̃_t, ...) come in as operands, read from ./ddpm-schedule.ts's tables.
//   x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε                                                  DDPM eq. 4
//   x̂_0 = √(1/ᾱ_t)·x_t − √(1/ᾱ_t − 1)·ε̂                                           DDPM eq. 4 inverted
//   Σ_θ = exp(v·log β_t + (1 − v)·log β̃_t), v = (out + 1)/2                          IDDPM eq. 15
//   L_vb: KL(q(x_{t−1}|x_t, x_0) ‖ p_θ(x_{t−1}|x_t)) for t > 0, the discretised decoder NLL
//   −log p_θ(x_0|x_1) at t = 0, in bits                                               IDDPM §3.1
import type { Operand, ScalarOps } from "./scalar-ops.ts";

/** x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε (ADM `q_sample`). */
export const qSample = <T>(ops: ScalarOps<T>, sqrtAb: T, sqrtOneMinusAb: T, x0: T, noise: T): T =>
  ops.add(ops.mul(sqrtAb, x0), ops.mul(sqrtOneMinusAb, noise));

/** x̂_0 = √(1/ᾱ_t)·x_t − √(1/ᾱ_t − 1)·ε̂ (ADM `_predict_xstart_from_eps`). */
export const predictXStart = <T>(ops: ScalarOps<T>, sqrtRecipAb: T, sqrtRecipm1Ab: T, xt: T, eps: T): T =>
  ops.sub(ops.mul(sqrtRecipAb, xt), ops.mul(sqrtRecipm1Ab, eps));

/** ε = (√(1/ᾱ_t)·x_t − x̂_0)/√(1/ᾱ_t − 1) (ADM `_predict_eps_from_xstart`). */
export const predictEpsFromXStart = <T>(
  ops: ScalarOps<T>,
  sqrtRecipAb: T,
  sqrtRecipm1Ab: T,
  xt: T,
  x0: T,
): T => ops.div(ops.sub(ops.mul(sqrtRecipAb, xt), x0), sqrtRecipm1Ab);

/** μ̃_t = coef1·x_0 + coef2·x_t (DDPM eq. 7; with x̂_0 for x_0, the model's mean). */
export const posteriorMean = <T>(ops: ScalarOps<T>, coef1: T, coef2: T, x0: T, xt: T): T =>
  ops.add(ops.mul(coef1, x0), ops.mul(coef2, xt));

/** log Σ = frac·log β_t + (1 − frac)·log β̃_t, frac = (v + 1)/2 (IDDPM eq. 15, ADM LEARNED_RANGE). */
export function learnedRangeLogVariance<T>(ops: ScalarOps<T>, v: T, minLog: T, maxLog: T): T {
  const frac = ops.div(ops.add(v, 1), 2);
  return ops.add(ops.mul(frac, maxLog), ops.mul(ops.sub(1, frac), minLog));
}

/** L_simple's element (ε − ε̂)² (DDPM eq. 14), before the mean. */
export const epsError = <T>(ops: ScalarOps<T>, noise: T, eps: T): T => ops.square(ops.sub(noise, eps));

/** KL(N(μ₁, e^{ℓ₁}) ‖ N(μ₂, e^{ℓ₂})) elementwise, in nats (ADM `normal_kl`). */
export const normalKl = <T>(ops: ScalarOps<T>, mean1: T, logvar1: T, mean2: T, logvar2: T): T =>
  ops.mul(
    0.5,
    ops.add(
      ops.add(ops.sub(ops.sub(logvar2, logvar1), 1), ops.exp(ops.sub(logvar1, logvar2))),
      ops.mul(ops.square(ops.sub(mean1, mean2)), ops.exp(ops.neg(logvar2))),
    ),
  );

/** Φ(x) ≈ ½(1 + tanh(√(2/π)·(x + 0.044715·x³))) (ADM `approx_standard_normal_cdf`). */
export const approxStandardNormalCdf = <T>(ops: ScalarOps<T>, x: T): T =>
  ops.mul(
    0.5,
    ops.add(1, ops.tanh(ops.mul(Math.sqrt(2 / Math.PI), ops.add(x, ops.mul(0.044715, ops.cube(x)))))),
  );

// The discretised decoder's bins: 256 levels on [−1, 1], probabilities clamped at 1e-12.
const HALF_BIN = 1 / 255;
const EDGE = 0.999;
const FLOOR = 1e-12;

/**
 * log-likelihood of data x ∈ [−1, 1] quantised to 256 levels (bins of width 2/255 centred on the
 * levels, the outer two extended to ±∞) under N(means, e^{2·logScales}), elementwise (ADM
 * `discretized_gaussian_log_likelihood`).
 */
export function discretizedGaussianLogLikelihood<T>(ops: ScalarOps<T>, x: T, means: T, logScales: T): T {
  const centered = ops.sub(x, means);
  const invStdv = ops.exp(ops.neg(logScales));
  const cdfPlus = approxStandardNormalCdf(ops, ops.mul(invStdv, ops.add(centered, HALF_BIN)));
  const cdfMin = approxStandardNormalCdf(ops, ops.mul(invStdv, ops.sub(centered, HALF_BIN)));
  const logCdfPlus = ops.log(ops.max(cdfPlus, FLOOR));
  const logOneMinusCdfMin = ops.log(ops.max(ops.sub(1, cdfMin), FLOOR));
  const logCdfDelta = ops.log(ops.max(ops.sub(cdfPlus, cdfMin), FLOOR));
  return ops.where(
    ops.less(x, -EDGE),
    logCdfPlus,
    ops.where(ops.greater(x, EDGE), logOneMinusCdfMin, logCdfDelta),
  );
}

/** The decoder term's element −log p_θ(x_0|x_1) under N(mean, e^{logVariance}). */
export const decoderNll = <T>(ops: ScalarOps<T>, x0: T, mean: T, logVariance: T): T =>
  ops.neg(discretizedGaussianLogLikelihood(ops, x0, mean, ops.mul(logVariance, 0.5)));

/** L_vb in bits per sample from its per-sample means: the decoder NLL where t = 0, else the KL. */
export const vbBits = <T>(ops: ScalarOps<T>, isFirst: T, nll: Operand<T>, kl: Operand<T>): T =>
  ops.div(ops.where(isFirst, nll, kl), Math.LN2);
