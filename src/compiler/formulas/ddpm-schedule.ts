// The DDPM / ADM schedule (Ho et al. 2020; Nichol & Dhariwal 2021): β_t, ᾱ_t and the per-step
// constants every engine reads, as float64 tables indexed by the (possibly respaced) step index.
// The elementwise formulas are written over ./scalar-ops.ts like the rest; the running product
// ᾱ_t and the respacing are scans over the steps and stay plain float64 loops.
//   q(x_t | x_0)          = N(√ᾱ_t·x_0, (1 − ᾱ_t)·I)                                 DDPM eq. 4
//   q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t·I),                                           DDPM eq. 6–7
//     μ̃_t = √ᾱ_{t−1}·β_t/(1 − ᾱ_t)·x_0 + √α_t·(1 − ᾱ_{t−1})/(1 − ᾱ_t)·x_t,
//     β̃_t = (1 − ᾱ_{t−1})/(1 − ᾱ_t)·β_t
import type { DiffusionConfig } from "../schema/sections.ts";
import { minimum, numberOps, type Operand, type ScalarOps } from "./scalar-ops.ts";

export type DdpmConfig = Extract<DiffusionConfig, { kind: "ddpm" }>;

/** β_i of the linear schedule `linspace(start, end, n)` at step i (ADM `get_named_beta_schedule`). */
export const linearBeta = <T>(ops: ScalarOps<T>, start: number, end: number, n: number, i: T): T =>
  ops.add(start, ops.div(ops.mul(end - start, i), n - 1));

/** ᾱ(t) = cos²((t + 0.008)/1.008·π/2) of the cosine schedule (IDDPM eq. 17), t ∈ [0, 1]. */
export const cosineAlphaBar = <T>(ops: ScalarOps<T>, t: Operand<T>): T =>
  ops.square(ops.cos(ops.mul(ops.div(ops.add(t, 0.008), 1.008), Math.PI / 2)));

/** β_i = min(1 − ᾱ((i+1)/n)/ᾱ(i/n), 0.999) of the cosine schedule (IDDPM eq. 17). */
export const cosineBeta = <T>(ops: ScalarOps<T>, n: number, i: T): T =>
  minimum(
    ops,
    ops.sub(1, ops.div(cosineAlphaBar(ops, ops.div(ops.add(i, 1), n)), cosineAlphaBar(ops, ops.div(i, n)))),
    0.999,
  );

/**
 * β_t for t = 0..T−1. Linear: `linspace(betaStart, betaEnd, T)` (ADM additionally scales both ends
 * by 1000/T, which the explicit config values make unnecessary: at T = 1000 the two agree).
 * Cosine: IDDPM eq. 17.
 */
export function betaSchedule(c: DdpmConfig): Float64Array {
  const n = c.steps;
  return Float64Array.from({ length: n }, (_, i) => {
    if (c.betaSchedule === "cosine") return cosineBeta(numberOps, n, i);
    return n === 1 ? c.betaStart : linearBeta(numberOps, c.betaStart, c.betaEnd, n, i);
  });
}

/** ᾱ_t = Π_{s ≤ t} (1 − β_s). */
export function cumulativeAlphas(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let p = 1;
  betas.forEach((b, i) => {
    p *= 1 - b;
    out[i] = p;
  });
  return out;
}

/** The per-step constants of one step from β_t, ᾱ_t and ᾱ_{t−1} (ADM `GaussianDiffusion.__init__`). */
export function stepConstants<T>(ops: ScalarOps<T>, beta: T, ab: T, abPrev: T) {
  const oneMinusAb = ops.sub(1, ab);
  return {
    sqrtAlphasCumprod: ops.sqrt(ab),
    sqrtOneMinusAlphasCumprod: ops.sqrt(oneMinusAb),
    logOneMinusAlphasCumprod: ops.log(oneMinusAb),
    sqrtRecipAlphasCumprod: ops.sqrt(ops.div(1, ab)),
    sqrtRecipm1AlphasCumprod: ops.sqrt(ops.sub(ops.div(1, ab), 1)),
    /** β̃_t (DDPM eq. 7). */
    posteriorVariance: ops.div(ops.mul(beta, ops.sub(1, abPrev)), oneMinusAb),
    /** μ̃_t = coef1·x_0 + coef2·x_t (DDPM eq. 7). */
    posteriorMeanCoef1: ops.div(ops.mul(beta, ops.sqrt(abPrev)), oneMinusAb),
    posteriorMeanCoef2: ops.div(ops.mul(ops.sub(1, abPrev), ops.sqrt(ops.sub(1, beta))), oneMinusAb),
  };
}

export type StepConstant = keyof ReturnType<typeof stepConstants>;

/** The float64 tables of a process with these betas, indexed by step. */
export interface DiffusionTables extends Record<StepConstant, Float64Array> {
  betas: Float64Array;
  logBetas: Float64Array;
  alphasCumprod: Float64Array;
  alphasCumprodPrev: Float64Array;
  alphasCumprodNext: Float64Array;
  /** log β̃_t with β̃_0 replaced by β̃_1 (the t = 0 value is 0 and its log −∞). */
  posteriorLogVarianceClipped: Float64Array;
  /** log β_t with β̃_1 in place of β_0 (ADM FIXED_LARGE). */
  fixedLargeLogVariance: Float64Array;
}

export function diffusionTables(betas: Float64Array): DiffusionTables {
  const n = betas.length;
  const ac = cumulativeAlphas(betas);
  const acp = Float64Array.from(ac, (_, i) => (i === 0 ? 1 : (ac[i - 1] ?? 1)));
  const perStep = Array.from({ length: n }, (_, i) =>
    stepConstants(numberOps, betas[i] ?? 0, ac[i] ?? 0, acp[i] ?? 1),
  );
  const column = (k: StepConstant) => Float64Array.from(perStep, (s) => s[k]);
  const pv = column("posteriorVariance");
  // With a single step β̃_1 does not exist; fall back to β_0 (the decoder then uses log β_0).
  const pv1 = n > 1 ? (pv[1] ?? 0) : (betas[0] ?? 0);
  return {
    betas: Float64Array.from(betas),
    logBetas: Float64Array.from(betas, Math.log),
    alphasCumprod: ac,
    alphasCumprodPrev: acp,
    alphasCumprodNext: Float64Array.from(ac, (_, i) => (i === n - 1 ? 0 : (ac[i + 1] ?? 0))),
    sqrtAlphasCumprod: column("sqrtAlphasCumprod"),
    sqrtOneMinusAlphasCumprod: column("sqrtOneMinusAlphasCumprod"),
    logOneMinusAlphasCumprod: column("logOneMinusAlphasCumprod"),
    sqrtRecipAlphasCumprod: column("sqrtRecipAlphasCumprod"),
    sqrtRecipm1AlphasCumprod: column("sqrtRecipm1AlphasCumprod"),
    posteriorVariance: pv,
    posteriorLogVarianceClipped: Float64Array.from(pv, (v, i) => Math.log(i === 0 ? pv1 : v)),
    posteriorMeanCoef1: column("posteriorMeanCoef1"),
    posteriorMeanCoef2: column("posteriorMeanCoef2"),
    fixedLargeLogVariance: Float64Array.from(betas, (b, i) => Math.log(i === 0 ? pv1 : b)),
  };
}

/** Python's round(): half to even (ADM `space_timesteps` relies on it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * ADM `space_timesteps(num_timesteps, section_counts)`: the original timesteps kept when the
 * process is split into equal sections, each strided evenly to its count (first and last step of
 * each section kept). A single count K keeps round(i·(T−1)/(K−1)), i = 0..K−1. Sorted ascending.
 */
export function spaceTimesteps(numTimesteps: number, sectionCounts: number | readonly number[]): number[] {
  const counts = typeof sectionCounts === "number" ? [sectionCounts] : [...sectionCounts];
  if (counts.length === 0) throw new Error("space_timesteps: no sections");
  const sizePer = Math.floor(numTimesteps / counts.length);
  const extra = numTimesteps % counts.length;
  let start = 0;
  const steps = new Set<number>();
  counts.forEach((count, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    if (!Number.isInteger(count) || count < 1 || size < count) {
      throw new Error(`cannot divide a section of ${size} steps into ${count}`);
    }
    const stride = count <= 1 ? 1 : (size - 1) / (count - 1);
    let cur = 0; // accumulated exactly as ADM does (cur_idx += frac_stride)
    for (let k = 0; k < count; k++) {
      steps.add(start + roundHalfEven(cur));
      cur += stride;
    }
    start += size;
  });
  return [...steps].sort((a, b) => a - b);
}

/** β' = 1 − ᾱ_{S_i}/ᾱ_{S_{i−1}}, the beta between two kept steps of a respaced process. */
export const respacedBeta = <T>(ops: ScalarOps<T>, ab: T, abPrevKept: Operand<T>): T =>
  ops.sub(1, ops.div(ab, abPrevKept));

/**
 * The betas of the process respaced to the kept original steps S (ADM `SpacedDiffusion`), with
 * ᾱ_{S_{−1}} = 1, so that the respaced ᾱ'_i = ᾱ_{S_i}.
 */
export function respacedBetas(betas: Float64Array, kept: readonly number[]): Float64Array {
  const ac = cumulativeAlphas(betas);
  const out = new Float64Array(kept.length);
  let last = 1;
  kept.forEach((s, i) => {
    const a = ac[s] ?? 0;
    out[i] = respacedBeta(numberOps, a, last);
    last = a;
  });
  return out;
}
