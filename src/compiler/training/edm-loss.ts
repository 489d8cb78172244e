// The EDM loss in the training graph (Karras et al. 2022; runtime/diffusion/edm.ts computes the
// same in tfjs): noisy = x + σ·n, D = c_skip·noisy + c_out·F(c_in·noisy; ln σ / 4),
// loss = mean of λ(σ)·(D − x)² with λ = 1/c_out². Input: sigma [B].
import type { Val } from "../emit/onnx/context.ts";
import type { DiffusionConfig } from "../schema/sections.ts";
import { lowerForward } from "./forward.ts";
import type { LossContext, LossGraph } from "./loss-context.ts";

export function edmLossGraph(
  { b, ctx, graph, batch: B, declare, dropoutMask }: LossContext,
  diffusion: Extract<DiffusionConfig, { kind: "edm" }>,
): LossGraph {
  declare("sigma", [B]);
  // EDM [Table 1]: noisy = x + σ·n; D = c_skip·noisy + c_out·F(c_in·noisy; ln σ / 4).
  const sd = diffusion.sigmaData;
  const sigma4 = b.op("Reshape", ["sigma", b.ints([B, 1, 1, 1])], "sigma4");
  const noisy = b.op("Add", ["x", b.op("Mul", ["noise", sigma4], "sigma_noise")], "noisy");
  const s2 = b.op("Add", [b.op("Mul", [sigma4, sigma4], "sigma_sq"), b.scalar(sd * sd)], "sigma_sq_sd");
  const root = b.op("Sqrt", [s2], "sqrt_s2");
  const cIn = b.op("Div", [b.scalar(1), root], "c_in");
  const xIn: Val = { name: b.op("Mul", [noisy, cIn], "x_in"), layout: "NCHW" };
  const cNoise = b.op("Div", [b.op("Log", ["sigma"], "log_sigma"), b.scalar(4)], "c_noise");

  const result = lowerForward(
    graph,
    ctx,
    (role) => (role === "x" ? xIn : { name: role === "t" ? cNoise : "y", layout: "flat" }),
    dropoutMask,
  );
  const f = ctx.as(result, "NCHW").name;
  const cSkip = b.op("Div", [b.scalar(sd * sd), s2], "c_skip");
  const cOut = b.op("Div", [b.op("Mul", [sigma4, b.scalar(sd)], "sigma_sd"), root], "c_out");
  const d = b.op(
    "Add",
    [b.op("Mul", [noisy, cSkip], "skip"), b.op("Mul", [f, cOut], "scaled_f")],
    "denoised",
  );
  // λ(σ) = 1/c_out²; loss = mean of λ·(D − x)² over batch and pixels.
  const lambda = b.op("Div", [b.scalar(1), b.op("Mul", [cOut, cOut], "c_out_sq")], "lambda");
  const diff = b.op("Sub", [d, "x"], "error");
  const weighted = b.op("Mul", [lambda, b.op("Mul", [diff, diff], "error_sq")], "weighted");
  const loss = b.op("ReduceMean", [weighted], "loss_value", { keepdims: 0 });

  return { loss, frozen: new Set() };
}
