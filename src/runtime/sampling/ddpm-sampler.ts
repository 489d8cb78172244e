// DDPM ancestral sampling (ADM `p_sample_loop`) and DDIM (ADM `ddim_sample_loop`, Song et al.
// 2021 eq. 12) over a respaced schedule, with classifier-free guidance batched into one network
// call. The official latent sampler is ancestral DDPM respaced 1000 → 250 steps [S.I.2; OFF-S].
import * as tf from "@tensorflow/tfjs";
import { type DdpmConfig, GaussianDiffusion, splitChannelHalves } from "../diffusion/ddpm.ts";
import type { Network } from "../diffusion/edm.ts";
import { Rng } from "../random.ts";
import { gaussian, type SampleResult } from "./edm-sampler.ts";
import { type GuidanceConfig, guidanceScale, guide } from "./guidance.ts";

export interface DdpmSampleOptions {
  sampler: "ddpm" | "ddim";
  /** Respaced step count K (ADM `space_timesteps`); ≥ the training steps means no respacing. */
  steps: number;
  seed: number;
  /** DDIM stochasticity η (0: deterministic DDIM, 1: DDPM-like variance). Default 0. */
  eta?: number;
  /** Clamp x̂_0 to [−1, 1] (ADM clip_denoised). Default false, as the latent model samples [OFF-S]. */
  clipDenoised?: boolean;
  /** Class labels (conditional models); the null class is `nullLabel`. */
  labels?: number[];
  nullLabel?: number;
  guidance?: GuidanceConfig;
  onStep?: (step: number, total: number) => void;
}

/**
 * The model as the sampler sees it: x_t [N,H,W,C] and the original-scale timestep → the output
 * [N,H,W,C or 2C]. With guidance, one call on [x; x] with [labels; null] (DiT/DiffiT
 * `forward_with_cfg`); ε = ε_u + s·(ε_c − ε_u) on the guided ε channels, the other ε channels and
 * all variance channels from the conditional half. The scale is `guidanceScale(g, t/T)` with t the
 * original timestep and T the original step count, so the power-cosine ramp is ≈ 1 at t = T − 1
 * and reaches the full scale at t = 0 [OFF].
 */
export function guidedModel(
  net: Network,
  o: Pick<DdpmSampleOptions, "labels" | "nullLabel" | "guidance">,
  originalSteps: number,
): (x: tf.Tensor, tOriginal: number) => tf.Tensor {
  const labels = o.labels;
  const g = o.guidance;
  const nullLabel = o.nullLabel;
  if (labels === undefined || g === undefined || g.scale === 1 || nullLabel === undefined) {
    return (x, tOriginal) =>
      tf.tidy(() => {
        const n = x.shape[0] ?? 0;
        const y = labels ? tf.tensor1d(labels, "int32") : undefined;
        return net(x, tf.fill([n], tOriginal, "float32"), y);
      });
  }
  return (x, tOriginal) =>
    tf.tidy(() => {
      const n = x.shape[0] ?? 0;
      const c = x.shape[3] ?? 0;
      const y = tf.tensor1d([...labels, ...new Array<number>(n).fill(nullLabel)], "int32");
      const both = net(tf.concat([x, x], 0), tf.fill([2 * n], tOriginal, "float32"), y);
      const [cond, uncond] = tf.split(both, 2, 0) as [tf.Tensor, tf.Tensor];
      const scale = guidanceScale(g, tOriginal / originalSteps);
      const oc = cond.shape[3] ?? 0;
      if (oc === c) return guide(cond, uncond, scale, g.channels);
      if (oc !== 2 * c) throw new Error(`model output has ${oc} channels, expected ${c} or ${2 * c}`);
      // Guide ε (channels 0..C−1) only; the variance channels are the conditional ones.
      const [epsC, rest] = splitChannelHalves(cond);
      const [epsU] = splitChannelHalves(uncond);
      return tf.concat([guide(epsC, epsU, scale, g.channels), rest], 3);
    });
}

/** Samples with the config's diffusion respaced to `o.steps`. */
export function sampleDdpm(
  c: DdpmConfig,
  net: Network,
  shape: [number, number, number, number],
  o: DdpmSampleOptions,
): SampleResult {
  return sampleDiffusion(GaussianDiffusion.fromConfig(c, o.steps), net, shape, o);
}

/**
 * Samples from a prepared (respaced) diffusion, from x_T ~ N(0, I) down through every index
 * K−1 … 0 (one network evaluation each; NFE = K):
 *   ddpm: x_{t−1} = μ_θ(x_t) + [t > 0]·exp(½·log Σ_θ)·z                       (ADM `p_sample`)
 *   ddim: x_{t−1} = x̂_0·√ᾱ_{t−1} + √(1 − ᾱ_{t−1} − σ²)·ε + [t > 0]·σ·z,
 *         σ = η·√((1 − ᾱ_{t−1})/(1 − ᾱ_t))·√(1 − ᾱ_t/ᾱ_{t−1}), ε recomputed from x̂_0 (ADM `ddim_sample`).
 * All noise comes from `Rng(seed, "sample/ddpm")`.
 */
export function sampleDiffusion(
  d: GaussianDiffusion,
  net: Network,
  shape: [number, number, number, number],
  o: DdpmSampleOptions,
): SampleResult {
  const rng = new Rng(o.seed, "sample/ddpm");
  const size = shape.reduce((a, b) => a * b, 1);
  const model = guidedModel(net, o, d.originalSteps);
  const eta = o.eta ?? 0;
  const total = d.numTimesteps;
  let nfe = 0;

  let x: tf.Tensor = tf.tensor4d(gaussian(rng, size), shape);
  for (let i = total - 1; i >= 0; i--) {
    const t = new Array<number>(shape[0]).fill(i);
    const output = model(x, d.timestepMap[i] ?? 0);
    nfe++;
    const noise = tf.tensor4d(gaussian(rng, size), shape);
    const next = tf.tidy(() => {
      const p = d.pMeanVariance(output, x, t, { clipDenoised: o.clipDenoised ?? false });
      if (o.sampler === "ddpm") {
        if (i === 0) return p.mean;
        return tf.add(p.mean, tf.mul(tf.exp(tf.mul(p.logVariance, 0.5)), noise));
      }
      const eps = d.predictEpsFromXStart(x, t, p.predXStart);
      const ab = d.alphasCumprod[i] ?? 0;
      const abPrev = d.alphasCumprodPrev[i] ?? 1;
      const sigma = eta * Math.sqrt((1 - abPrev) / (1 - ab)) * Math.sqrt(1 - ab / abPrev);
      const mean = tf.add(
        tf.mul(p.predXStart, Math.sqrt(abPrev)),
        tf.mul(eps, Math.sqrt(Math.max(0, 1 - abPrev - sigma * sigma))),
      );
      return i === 0 || sigma === 0 ? mean : tf.add(mean, tf.mul(noise, sigma));
    });
    output.dispose();
    noise.dispose();
    x.dispose();
    x = next;
    o.onStep?.(total - i, total);
  }
  return { images: x, nfe };
}
