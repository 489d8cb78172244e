// The ADM/DDPM loss in the training graph (runtime/diffusion/ddpm.ts `ddpmLossTerms` computes the
// same in tfjs), ε-prediction:
//   x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε;  mse = mean_flat((ε − ε̂)²)                          DDPM eq. 14
//   hybrid with learned-range variance: + L_vb on [stop_gradient(ε̂), v] in bits/dim: the KL of
//   q(x_{t−1}|x_t, x_0) from p_θ(x_{t−1}|x_t) for t > 0, the discretised decoder NLL at t = 0
//   (IDDPM §3.1, ADM `_vb_terms_bpd`).
// The timestep draw t is made in JS; its per-sample schedule constants come in as [B] inputs
// (ADM_INPUTS), as the tfjs trainer reads them from the same float64 tables.

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
  const xt = b.op(
    "Add",
    [b.op("Mul", [c("sqrt_ab"), "x"], "signal"), b.op("Mul", [c("sqrt_1m_ab"), "noise"], "scaled_noise")],
    "x_t",
  );
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
  const err = b.op("Sub", ["noise", eps], "eps_error");
  const mse = meanFlat(b.op("Mul", [err, err], "eps_error_sq"), "mse");
  const frozen = new Set<string>();
  let perSample = mse;
  if (diffusion.loss === "hybrid" && diffusion.variance === "learned-range") {
    // The VB term trains only the variance: ε̂ enters it through a stop-gradient.
    const epsFrozen = b.op("Identity", [eps], "eps_stop_gradient");
    frozen.add(epsFrozen);
    const v = half(C, "var_values");
    // log Σ = frac·log β_t + (1 − frac)·log β̃_t, frac = (v + 1)/2 (IDDPM eq. 15).
    const frac = b.op("Div", [b.op("Add", [v, b.scalar(1)], "v_1p"), b.scalar(2)], "frac");
    const logVar = b.op(
      "Add",
      [
        b.op("Mul", [frac, c("log_beta")], "frac_max"),
        b.op("Mul", [b.op("Sub", [b.scalar(1), frac], "1m_frac"), c("post_logvar")], "frac_min"),
      ],
      "p_logvar",
    );
    const predX0 = b.op(
      "Sub",
      [b.op("Mul", [c("recip_ab"), xt], "x0_a"), b.op("Mul", [c("recipm1_ab"), epsFrozen], "x0_b")],
      "pred_x0",
    );
    const pMean = b.op(
      "Add",
      [b.op("Mul", [c("post_c1"), predX0], "p_mean_a"), b.op("Mul", [c("post_c2"), xt], "p_mean_b")],
      "p_mean",
    );
    const qMean = b.op(
      "Add",
      [b.op("Mul", [c("post_c1"), "x"], "q_mean_a"), b.op("Mul", [c("post_c2"), xt], "q_mean_b")],
      "q_mean",
    );
    // KL(N(q_mean, e^{q_logvar}) ‖ N(p_mean, e^{p_logvar})), elementwise (ADM normal_kl).
    const qLogVar = c("post_logvar");
    const dm = b.op("Sub", [qMean, pMean], "kl_dm");
    const kl = b.op(
      "Mul",
      [
        b.scalar(0.5),
        b.op(
          "Add",
          [
            b.op(
              "Add",
              [
                b.op("Sub", [b.op("Sub", [logVar, qLogVar], "kl_dlv"), b.scalar(1)], "kl_a"),
                b.op("Exp", [b.op("Sub", [qLogVar, logVar], "kl_dlv2")], "kl_ratio"),
              ],
              "kl_ab",
            ),
            b.op(
              "Mul",
              [b.op("Mul", [dm, dm], "kl_dm2"), b.op("Exp", [b.op("Neg", [logVar], "kl_nlv")], "kl_prec")],
              "kl_c",
            ),
          ],
          "kl_sum",
        ),
      ],
      "kl",
    );
    const nll = meanFlat(b.op("Neg", [decoderLogLikelihood(b, "x", pMean, logVar)], "nll_el"), "nll");
    const vb = b.op(
      "Div",
      [
        b.op(
          "Where",
          [b.op("Greater", ["is_first", b.scalar(0.5)], "first"), nll, meanFlat(kl, "kl_flat")],
          "vb_nats",
        ),
        b.scalar(Math.LN2),
      ],
      "vb",
    );
    perSample = b.op("Add", [mse, vb], "mse_vb");
  }
  return { loss: b.op("ReduceMean", [perSample], "loss_value", { keepdims: 0 }), frozen };
}

/** Φ(z) ≈ ½(1 + tanh(√(2/π)(z + 0.044715 z³))) (ADM approx_standard_normal_cdf). */
function approxCdf(b: LossContext["b"], z: string, hint: string): string {
  const z3 = b.op("Mul", [b.op("Mul", [z, z], `${hint}/z2`), z], `${hint}/z3`);
  const inner = b.op(
    "Mul",
    [
      b.scalar(Math.sqrt(2 / Math.PI)),
      b.op("Add", [z, b.op("Mul", [b.scalar(0.044715), z3], `${hint}/c`)], `${hint}/s`),
    ],
    `${hint}/u`,
  );
  return b.op(
    "Mul",
    [b.scalar(0.5), b.op("Add", [b.scalar(1), b.op("Tanh", [inner], `${hint}/t`)], `${hint}/1pt`)],
    hint,
  );
}

/** log p(x) of data quantised to 256 levels under N(mean, e^{logVar}) (ADM discretized_gaussian_log_likelihood). */
function decoderLogLikelihood(b: LossContext["b"], x: string, mean: string, logVar: string): string {
  const centered = b.op("Sub", [x, mean], "dec_centered");
  const invStdv = b.op(
    "Exp",
    [b.op("Neg", [b.op("Mul", [logVar, b.scalar(0.5)], "dec_log_scale")], "dec_nls")],
    "dec_inv_std",
  );
  const cdfPlus = approxCdf(
    b,
    b.op("Mul", [invStdv, b.op("Add", [centered, b.scalar(1 / 255)], "dec_plus")], "dec_zp"),
    "dec_cdf_plus",
  );
  const cdfMin = approxCdf(
    b,
    b.op("Mul", [invStdv, b.op("Sub", [centered, b.scalar(1 / 255)], "dec_min")], "dec_zm"),
    "dec_cdf_min",
  );
  const floor = b.scalar(1e-12);
  const logCdfPlus = b.op("Log", [b.op("Max", [cdfPlus, floor], "dec_cp_c")], "dec_log_cp");
  const logOneMinusCdfMin = b.op(
    "Log",
    [b.op("Max", [b.op("Sub", [b.scalar(1), cdfMin], "dec_1mcm"), floor], "dec_1mcm_c")],
    "dec_log_1mcm",
  );
  const logCdfDelta = b.op(
    "Log",
    [b.op("Max", [b.op("Sub", [cdfPlus, cdfMin], "dec_delta"), floor], "dec_delta_c")],
    "dec_log_delta",
  );
  return b.op(
    "Where",
    [
      b.op("Less", [x, b.scalar(-0.999)], "dec_low"),
      logCdfPlus,
      b.op(
        "Where",
        [b.op("Greater", [x, b.scalar(0.999)], "dec_high"), logOneMinusCdfMin, logCdfDelta],
        "dec_mid",
      ),
    ],
    "dec_ll",
  );
}
