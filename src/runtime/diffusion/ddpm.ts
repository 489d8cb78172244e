// DDPM / ADM Gaussian diffusion on tfjs, the latent formulation of DiffiT [S.I.2; OFF-D]: 1000
// steps with a linear β schedule, ε-prediction, learned-range variance (LEARNED_RANGE,
// unrescaled) trained with the hybrid loss L_simple + L_vb (./ddpm-loss.ts), and respacing for
// sampling (ADM `space_timesteps`). The formulas are src/compiler/formulas/ddpm{,-schedule}.ts;
// this class holds a process's float64 tables and evaluates the formulas on tensors.
//
// Tables are indexed by the (possibly respaced) timestep index; the network is always called
// with the original-scale timestep (ADM `_WrappedModel`, rescale_timesteps = False). Tensors are
// channels-last [N, H, W, C]; the model output is [N, H, W, 2C] with ε in channels 0..C−1 and the
// variance interpolation in C..2C−1 when the variance is learned [OFF].
import * as tf from "@tensorflow/tfjs";
import * as f from "../../compiler/formulas/ddpm.ts";
import {
  betaSchedule,
  type DdpmConfig,
  type DiffusionTables,
  diffusionTables,
  respacedBetas,
  spaceTimesteps,
} from "../../compiler/formulas/ddpm-schedule.ts";
import type { ScalarOps } from "../../compiler/formulas/scalar-ops.ts";
import { tfjsOps } from "../tfjs-scalar-ops.ts";
import { meanFlat, normalKl, splitChannelHalves } from "./gaussian.ts";

export type { DdpmConfig };
export type VarianceType = DdpmConfig["variance"];
export type DdpmLossType = DdpmConfig["loss"];
export * from "./ddpm-loss.ts";
export * from "./gaussian.ts";
export { betaSchedule, spaceTimesteps };

type TwoCoefficients = (
  ops: ScalarOps<tf.Tensor>,
  a: tf.Tensor,
  b: tf.Tensor,
  x: tf.Tensor,
  y: tf.Tensor,
) => tf.Tensor;

export interface DiffusionOptions {
  variance: VarianceType;
  loss: DdpmLossType;
  /** Original timestep of each index (identity when not respaced). */
  timestepMap?: readonly number[];
  /** Length of the original process (the scale of the network's timestep input). */
  originalSteps?: number;
}

/** Posterior / model Gaussians per element, all [N, H, W, C] (variances broadcast from [N, 1, 1, 1]). */
export type GaussianParams = {
  mean: tf.Tensor;
  variance: tf.Tensor;
  logVariance: tf.Tensor;
};

export type ModelPrediction = GaussianParams & {
  /** x̂_0 from ε̂ (clipped to [−1, 1] when asked). */
  predXStart: tf.Tensor;
  /** The ε̂ channels of the output. */
  eps: tf.Tensor;
};

/**
 * ADM `GaussianDiffusion` (with `SpacedDiffusion` folded in): the float64 per-step tables and
 * the q / p Gaussians. Timestep arguments `t` are indices 0..numTimesteps−1 of this (possibly
 * respaced) process, one per batch element.
 */
export class GaussianDiffusion {
  readonly numTimesteps: number;
  readonly originalSteps: number;
  readonly timestepMap: readonly number[];
  readonly variance: VarianceType;
  readonly loss: DdpmLossType;
  readonly tables: DiffusionTables;

  constructor(betas: Float64Array, o: DiffusionOptions) {
    const n = betas.length;
    if (n < 1) throw new Error("diffusion needs at least one step");
    for (const b of betas) if (!(b > 0 && b <= 1)) throw new Error(`β must lie in (0, 1], got ${b}`);
    this.numTimesteps = n;
    this.timestepMap = o.timestepMap ? [...o.timestepMap] : Array.from({ length: n }, (_, i) => i);
    if (this.timestepMap.length !== n) throw new Error("timestepMap must have one entry per step");
    this.originalSteps = o.originalSteps ?? n;
    this.variance = o.variance;
    this.loss = o.loss;
    this.tables = diffusionTables(betas);
  }

  get betas() {
    return this.tables.betas;
  }
  get logBetas() {
    return this.tables.logBetas;
  }
  get alphasCumprod() {
    return this.tables.alphasCumprod;
  }
  get alphasCumprodPrev() {
    return this.tables.alphasCumprodPrev;
  }
  get alphasCumprodNext() {
    return this.tables.alphasCumprodNext;
  }
  get sqrtAlphasCumprod() {
    return this.tables.sqrtAlphasCumprod;
  }
  get sqrtOneMinusAlphasCumprod() {
    return this.tables.sqrtOneMinusAlphasCumprod;
  }
  get logOneMinusAlphasCumprod() {
    return this.tables.logOneMinusAlphasCumprod;
  }
  get sqrtRecipAlphasCumprod() {
    return this.tables.sqrtRecipAlphasCumprod;
  }
  get sqrtRecipm1AlphasCumprod() {
    return this.tables.sqrtRecipm1AlphasCumprod;
  }
  /** β̃_t (DDPM eq. 7); 0 at t = 0. */
  get posteriorVariance() {
    return this.tables.posteriorVariance;
  }
  /** log β̃_t with β̃_0 replaced by β̃_1 (the t = 0 value is 0 and its log −∞). */
  get posteriorLogVarianceClipped() {
    return this.tables.posteriorLogVarianceClipped;
  }
  /** μ̃_t = coef1·x_0 + coef2·x_t (DDPM eq. 7). */
  get posteriorMeanCoef1() {
    return this.tables.posteriorMeanCoef1;
  }
  get posteriorMeanCoef2() {
    return this.tables.posteriorMeanCoef2;
  }

  /**
   * From the config, optionally respaced (ADM `SpacedDiffusion`) to the original steps
   * `spaceTimesteps(T, respacing)`. Respacing to ≥ T steps (or none) leaves the process as is.
   */
  static fromConfig(c: DdpmConfig, respacing?: number | readonly number[]): GaussianDiffusion {
    const betas = betaSchedule(c);
    const opts = { variance: c.variance, loss: c.loss, originalSteps: c.steps };
    if (respacing === undefined || (typeof respacing === "number" && respacing >= c.steps)) {
      return new GaussianDiffusion(betas, opts);
    }
    const kept = spaceTimesteps(c.steps, respacing);
    return new GaussianDiffusion(respacedBetas(betas, kept), { ...opts, timestepMap: kept });
  }

  private check(t: readonly number[]): void {
    for (const i of t) {
      if (!Number.isInteger(i) || i < 0 || i >= this.numTimesteps) {
        throw new Error(`timestep ${i} outside 0..${this.numTimesteps - 1}`);
      }
    }
  }

  /**
   * Per-sample constants values[t_i] as a float32 [N, 1, 1, 1] tensor (broadcasts over H, W, C),
   * or a scalar when every t_i is the same (as in sampling), which broadcasts far faster on cpu.
   */
  column(values: Float64Array, t: readonly number[]): tf.Tensor {
    this.check(t);
    const first = t[0];
    if (first !== undefined && t.every((i) => i === first)) return tf.scalar(values[first] ?? Number.NaN);
    return tf.tensor4d(
      Float32Array.from(t, (i) => values[i] ?? Number.NaN),
      [t.length, 1, 1, 1],
    );
  }

  /** The network's timestep input: the original-scale timestep of each index, float32 [N]. */
  networkTimesteps(t: readonly number[]): tf.Tensor1D {
    this.check(t);
    return tf.tensor1d(t.map((i) => this.timestepMap[i] ?? 0));
  }

  /** A formula of two per-step coefficients and two tensors, with the coefficients of steps t. */
  private withCoefficients(
    formula: TwoCoefficients,
    a: Float64Array,
    b: Float64Array,
    t: readonly number[],
    x: tf.Tensor,
    y: tf.Tensor,
  ): tf.Tensor {
    return tf.tidy(() => formula(tfjsOps, this.column(a, t), this.column(b, t), x, y));
  }

  /** x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε. */
  qSample(x0: tf.Tensor, t: readonly number[], noise: tf.Tensor): tf.Tensor {
    return this.withCoefficients(
      f.qSample,
      this.sqrtAlphasCumprod,
      this.sqrtOneMinusAlphasCumprod,
      t,
      x0,
      noise,
    );
  }

  /** x̂_0 from x_t and ε̂. */
  predictXStart(xt: tf.Tensor, t: readonly number[], eps: tf.Tensor): tf.Tensor {
    return this.withCoefficients(
      f.predictXStart,
      this.sqrtRecipAlphasCumprod,
      this.sqrtRecipm1AlphasCumprod,
      t,
      xt,
      eps,
    );
  }

  /** ε from x_t and x̂_0. */
  predictEpsFromXStart(xt: tf.Tensor, t: readonly number[], x0: tf.Tensor): tf.Tensor {
    return this.withCoefficients(
      f.predictEpsFromXStart,
      this.sqrtRecipAlphasCumprod,
      this.sqrtRecipm1AlphasCumprod,
      t,
      xt,
      x0,
    );
  }

  /** μ̃_t(x_0, x_t). */
  private posteriorMean(x0: tf.Tensor, xt: tf.Tensor, t: readonly number[]): tf.Tensor {
    return this.withCoefficients(
      f.posteriorMean,
      this.posteriorMeanCoef1,
      this.posteriorMeanCoef2,
      t,
      x0,
      xt,
    );
  }

  /** q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t) (DDPM eq. 6–7); log variance clipped at t = 0. */
  qPosterior(x0: tf.Tensor, xt: tf.Tensor, t: readonly number[]): GaussianParams {
    return tf.tidy(() => {
      const mean = this.posteriorMean(x0, xt, t);
      const shape = mean.shape;
      return {
        mean,
        variance: tf.broadcastTo(this.column(this.posteriorVariance, t), shape),
        logVariance: tf.broadcastTo(this.column(this.posteriorLogVarianceClipped, t), shape),
      };
    });
  }

  /** Splits the model output into ε̂ [N,H,W,C] and the variance values (undefined when not learned). */
  splitOutput(output: tf.Tensor, channels: number): { eps: tf.Tensor; varValues: tf.Tensor | undefined } {
    const oc = output.shape[3] ?? 0;
    if (oc === channels) {
      if (this.variance === "learned-range") {
        throw new Error(`learned-range variance needs ${2 * channels} output channels, got ${oc}`);
      }
      return { eps: tf.clone(output), varValues: undefined }; // a new handle: callers may dispose it
    }
    if (oc !== 2 * channels)
      throw new Error(`model output has ${oc} channels, expected ${channels} or ${2 * channels}`);
    const [eps, v] = splitChannelHalves(output);
    return { eps, varValues: this.variance === "learned-range" ? v : undefined };
  }

  /**
   * p_θ(x_{t−1} | x_t) (ADM `p_mean_variance`, ε-prediction): the variance is
   *   learned-range: log Σ = frac·log β_t + (1 − frac)·log β̃_t (clipped), frac = (v + 1)/2 (IDDPM eq. 15);
   *   fixed-small:   β̃_t (log clipped);
   *   fixed-large:   β_t, with β̃_1 in place of β_0 (ADM FIXED_LARGE);
   * and the mean is μ̃_t(x̂_0, x_t) with x̂_0 from ε̂.
   */
  pMeanVariance(
    output: tf.Tensor,
    xt: tf.Tensor,
    t: readonly number[],
    o: { clipDenoised?: boolean } = {},
  ): ModelPrediction {
    return tf.tidy(() => {
      const { eps, varValues } = this.splitOutput(output, xt.shape[3] ?? 0);
      let logVariance: tf.Tensor;
      if (this.variance === "learned-range") {
        if (!varValues) throw new Error("learned-range variance without variance channels");
        const minLog = this.column(this.posteriorLogVarianceClipped, t);
        logVariance = f.learnedRangeLogVariance(tfjsOps, varValues, minLog, this.column(this.logBetas, t));
      } else {
        const table =
          this.variance === "fixed-small"
            ? this.posteriorLogVarianceClipped
            : this.tables.fixedLargeLogVariance;
        logVariance = tf.broadcastTo(this.column(table, t), xt.shape);
      }
      let predXStart = this.predictXStart(xt, t, eps);
      if (o.clipDenoised) predXStart = tf.clipByValue(predXStart, -1, 1);
      const mean = this.posteriorMean(predXStart, xt, t);
      return { mean, variance: tf.exp(logVariance), logVariance, predXStart, eps };
    });
  }

  /**
   * The VB term L_{t−1} in bits per dimension, per sample [N] (ADM `_vb_terms_bpd`, clip_denoised
   * False): KL(q(x_{t−1}|x_t, x_0) ‖ p_θ(x_{t−1}|x_t)) for t > 0 and the discretised decoder NLL
   * −log p_θ(x_0|x_1) for t = 0, both averaged over the elements and divided by ln 2.
   */
  vbTermsBpd(output: tf.Tensor, x0: tf.Tensor, xt: tf.Tensor, t: readonly number[]): tf.Tensor1D {
    return tf.tidy(() => {
      const q = this.qPosterior(x0, xt, t);
      const p = this.pMeanVariance(output, xt, t);
      const kl = meanFlat(normalKl(q.mean, q.logVariance, p.mean, p.logVariance));
      const nll = meanFlat(f.decoderNll(tfjsOps, x0, p.mean, p.logVariance));
      const isFirst = tf.tensor1d(
        t.map((i) => i === 0),
        "bool",
      );
      return f.vbBits(tfjsOps, isFirst, nll, kl) as tf.Tensor1D;
    });
  }
}
