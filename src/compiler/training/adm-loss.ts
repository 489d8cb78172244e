// The ADM/DDPM loss in the training graph, from the formulas of src/compiler/formulas/ddpm.ts (the
// ones runtime/diffusion/ddpm-loss.ts `ddpmLossTerms` evaluates on tfjs), ε-prediction:
//   x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε;  mse = mean_flat((ε − ε̂)²)                          DDPM eq. 14
//   hybrid with learned-range variance: + L_vb on [stop_gradient(ε̂), v] in bits/dim: the KL of
//   q(x_{t−1}|x_t, x_0) from p_θ(x_{t−1}|x_t) for t > 0, the discretised decoder NLL at t = 0
//   (IDDPM §3.1, ADM `_vb_terms_bpd`).
// The timestep draw t is made in JS; its per-sample schedule constants come in as [B] inputs
// (ADM_INPUTS), as the tfjs trainer reads them from the same float64 tables.

import * as ddpm from "../formulas/ddpm.ts";
import { graphOps } from "../formulas/scalar-ops.ts";
import type { DiffusionConfig } from "../schema/sections.ts";
import type { Val } from "../tensor/lower-context.ts";
import { lowerForward } from "./forward.ts";
import type { LossContext, LossGraph } from "./loss-context.ts";

/** Per-sample [B] inputs of the ADM loss, by the GaussianDiffusion table each is read from. */
export const ADM_INPUTS = {
  /** The network's timestep (the original-scale step of a respaced index). */
  t: "timestepMap",
  sqrt_ab: "sqrtAlphasCumprod",
  sqrt_1m_ab: "sqrtOneMinusAlphasCumprod",
  recip_ab: "sqrtRecipAlphasCumprod",
  recipm1_ab: "sqrtRecipm1AlphasCumprod",
  post_c1: "posteriorMeanCoef1",
  post_c2: "posteriorMeanCoef2",
  post_logvar: "posteriorLogVarianceClipped",
  log_beta: "logBetas",
  /** 1 where t = 0 (the decoder term replaces the KL), else 0. */
  is_first: "isFirst",
} as const;

export type AdmInput = keyof typeof ADM_INPUTS;

export function admLossGraph(
  { b, ctx, graph, batch: B, declare, dropoutMask }: LossContext,
  diffusion: Extract<DiffusionConfig, { kind: "ddpm" }>,
): LossGraph {
  const col: Record<string, string> = {};
  for (const name of Object.keys(ADM_INPUTS)) {
    declare(name, [B]);
    col[name] = name === "t" ? name : b.op("Reshape", [name, b.ints([B, 1, 1, 1])], `${name}4`);
  }
  const c = (name: AdmInput) => col[name] ?? "";
  const f = graphOps(b, "adm");
  const xt = ddpm.qSample(f, c("sqrt_ab"), c("sqrt_1m_ab"), "x", "noise");
  const xIn: Val = { name: xt, layout: "NCHW" };
  const out = ctx.as(
    lowerForward(
      graph,
      ctx,
      (role) => (role === "x" ? xIn : { name: role === "t" ? "t" : "y", layout: "flat" }),
      dropoutMask,
    ),
    "NCHW",
  ).name;
  const outNode = graph.nodes[graph.outputs.out ?? -1];
  const xNode = graph.nodes[graph.inputs.x ?? -1];
  const C = Number(xNode?.out.shape[3]);
  const learned = Number(outNode?.out.shape[3]) === 2 * C;
  if (diffusion.variance === "learned-range" && !learned)
    throw new Error(`learned-range variance needs ${2 * C} output channels`);
  const half = (from: number, name: string) =>
    b.op("Slice", [out, b.ints([from]), b.ints([from + C]), b.ints([1])], name);
  const eps = learned ? half(0, "eps") : out;
  const flat = b.ints([1, 2, 3]);
  const meanFlat = (v: string, name: string) => b.op("ReduceMean", [v, flat], name, { keepdims: 0 });
  const mse = meanFlat(ddpm.epsError(f, "noise", eps), "mse");
  const frozen = new Set<string>();
  let perSample = mse;
  if (diffusion.loss === "hybrid" && diffusion.variance === "learned-range") {
    // The VB term trains only the variance: ε̂ enters it through a stop-gradient.
    const epsFrozen = b.op("Identity", [eps], "eps_stop_gradient");
    frozen.add(epsFrozen);
    const logVar = ddpm.learnedRangeLogVariance(f, half(C, "var_values"), c("post_logvar"), c("log_beta"));
    const predX0 = ddpm.predictXStart(f, c("recip_ab"), c("recipm1_ab"), xt, epsFrozen);
    const pMean = ddpm.posteriorMean(f, c("post_c1"), c("post_c2"), predX0, xt);
    const qMean = ddpm.posteriorMean(f, c("post_c1"), c("post_c2"), "x", xt);
    const kl = meanFlat(ddpm.normalKl(f, qMean, c("post_logvar"), pMean, logVar), "kl");
    const nll = meanFlat(ddpm.decoderNll(f, "x", pMean, logVar), "nll");
    const vb = ddpm.vbBits(f, f.greater("is_first", 0.5), nll, kl);
    perSample = b.op("Add", [mse, vb], "mse_vb");
  }
  return { loss: b.op("ReduceMean", [perSample], "loss_value", { keepdims: 0 }), frozen };
}
