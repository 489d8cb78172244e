// The EDM loss in the training graph (Karras et al. 2022; runtime/diffusion/edm.ts computes the
// same in tfjs): noisy = x + σ·n, D = c_skip·noisy + c_out·F(c_in·noisy; c_noise),
// loss = mean of λ(σ)·(D − x)² with λ = 1/c_out², for the EDM, VP and VE preconditionings of
// EDM Table 1. Input: sigma [B].

import type { DiffusionConfig } from "../schema/sections.ts";
import type { Val } from "../tensor/lower-context.ts";
import { lowerForward } from "./forward.ts";
import type { LossContext, LossGraph } from "./loss-context.ts";

export function edmLossGraph(
  { b, ctx, graph, batch: B, declare, dropoutMask }: LossContext,
  diffusion: Extract<DiffusionConfig, { kind: "edm" }>,
): LossGraph {
  declare("sigma", [B]);
  const sigma4 = b.op("Reshape", ["sigma", b.ints([B, 1, 1, 1])], "sigma4");
  const noisy = b.op("Add", ["x", b.op("Mul", ["noise", sigma4], "sigma_noise")], "noisy");
  const { cSkip, cOut, cIn, cNoise } = preconditioning(b, diffusion, sigma4);
  const xIn: Val = { name: cIn ? b.op("Mul", [noisy, cIn], "x_in") : noisy, layout: "NCHW" };

  const result = lowerForward(
    graph,
    ctx,
    (role) => (role === "x" ? xIn : { name: role === "t" ? cNoise : "y", layout: "flat" }),
    dropoutMask,
  );
  const f = ctx.as(result, "NCHW").name;
  const d = b.op(
    "Add",
    [cSkip ? b.op("Mul", [noisy, cSkip], "skip") : noisy, b.op("Mul", [f, cOut], "scaled_f")],
    "denoised",
  );
  // λ(σ) = 1/c_out²; loss = mean of λ·(D − x)² over batch and pixels.
  const lambda = b.op("Div", [b.scalar(1), b.op("Mul", [cOut, cOut], "c_out_sq")], "lambda");
  const diff = b.op("Sub", [d, "x"], "error");
  const weighted = b.op("Mul", [lambda, b.op("Mul", [diff, diff], "error_sq")], "weighted");
  const loss = b.op("ReduceMean", [weighted], "loss_value", { keepdims: 0 });

  return { loss, frozen: new Set() };
}

interface Scalings {
  /** undefined where the factor is 1 (no op emitted). */
  cSkip: string | undefined;
  cOut: string;
  cIn: string | undefined;
  /** [B] */
  cNoise: string;
}

// VP constants of EDM Table 1 (β_d, β_min, M), as runtime/diffusion/edm.ts.
const VP_BETA_D = 19.9;
const VP_BETA_MIN = 0.1;
const VP_M = 1000;

/** EDM Table 1 per sample: the [B, 1, 1, 1] factors from σ (sigma4) and c_noise [B] from "sigma". */
function preconditioning(
  b: LossContext["b"],
  c: Extract<DiffusionConfig, { kind: "edm" }>,
  sigma4: string,
): Scalings {
  switch (c.preconditioning) {
    case "edm": {
      const sd = c.sigmaData;
      const s2 = b.op("Add", [b.op("Mul", [sigma4, sigma4], "sigma_sq"), b.scalar(sd * sd)], "sigma_sq_sd");
      const root = b.op("Sqrt", [s2], "sqrt_s2");
      return {
        cSkip: b.op("Div", [b.scalar(sd * sd), s2], "c_skip"),
        cOut: b.op("Div", [b.op("Mul", [sigma4, b.scalar(sd)], "sigma_sd"), root], "c_out"),
        cIn: b.op("Div", [b.scalar(1), root], "c_in"),
        cNoise: b.op("Div", [b.op("Log", ["sigma"], "log_sigma"), b.scalar(4)], "c_noise"),
      };
    }
    case "ve":
      return {
        cSkip: undefined,
        cOut: sigma4,
        cIn: undefined,
        cNoise: b.op("Log", [b.op("Mul", ["sigma", b.scalar(0.5)], "half_sigma")], "c_noise"),
      };
    case "vp": {
      // t(σ) = (√(β_min² + 2β_d·ln(σ² + 1)) − β_min)/β_d; c_noise = (M − 1)·t.
      const s2p1 = b.op("Add", [b.op("Mul", ["sigma", "sigma"], "vp_s2"), b.scalar(1)], "vp_s2p1");
      const root = b.op(
        "Sqrt",
        [
          b.op(
            "Add",
            [
              b.scalar(VP_BETA_MIN ** 2),
              b.op("Mul", [b.scalar(2 * VP_BETA_D), b.op("Log", [s2p1], "vp_log")], "vp_2bd"),
            ],
            "vp_in",
          ),
        ],
        "vp_root",
      );
      const t = b.op(
        "Div",
        [b.op("Sub", [root, b.scalar(VP_BETA_MIN)], "vp_num"), b.scalar(VP_BETA_D)],
        "vp_t",
      );
      const s2p1Four = b.op("Add", [b.op("Mul", [sigma4, sigma4], "vp_s2_4"), b.scalar(1)], "vp_s2p1_4");
      return {
        cSkip: undefined,
        cOut: b.op("Neg", [sigma4], "c_out"),
        cIn: b.op("Div", [b.scalar(1), b.op("Sqrt", [s2p1Four], "vp_sqrt")], "c_in"),
        cNoise: b.op("Mul", [t, b.scalar(VP_M - 1)], "c_noise"),
      };
    }
  }
}
