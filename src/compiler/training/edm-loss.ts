// The EDM loss in the training graph, from the formulas of src/compiler/formulas/edm.ts (the
// ones runtime/diffusion/edm.ts evaluates on tfjs): noisy = x + σ·n,
// D = c_skip·noisy + c_out·F(c_in·noisy; c_noise), loss = mean of λ(σ)·(D − x)². Input: sigma [B].

import {
  type EdmConfig,
  edmDenoised,
  edmLossElement,
  edmLossWeight,
  edmNetworkInput,
  edmNoiseInput,
  edmNoisy,
  edmScalings,
} from "../formulas/edm.ts";
import { graphOps } from "../formulas/scalar-ops.ts";
import type { Val } from "../tensor/lower-context.ts";
import { lowerForward } from "./forward.ts";
import type { LossContext, LossGraph } from "./loss-context.ts";

export function edmLossGraph(
  { b, ctx, graph, batch: B, declare, dropoutMask }: LossContext,
  diffusion: EdmConfig,
): LossGraph {
  declare("sigma", [B]);
  const f = graphOps(b, "edm");
  // The factors per sample as [B, 1, 1, 1] (they scale images); c_noise stays [B].
  const sigma4 = b.op("Reshape", ["sigma", b.ints([B, 1, 1, 1])], "sigma4");
  const noisy = edmNoisy(f, "x", "noise", sigma4);
  const s = edmScalings(f, diffusion, sigma4);
  const xIn: Val = { name: edmNetworkInput(f, noisy, s), layout: "NCHW" };
  const cNoise = edmNoiseInput(f, diffusion, "sigma");

  const result = lowerForward(
    graph,
    ctx,
    (role) => (role === "x" ? xIn : { name: role === "t" ? cNoise : "y", layout: "flat" }),
    dropoutMask,
  );
  const d = edmDenoised(f, noisy, ctx.as(result, "NCHW").name, s);
  const weighted = edmLossElement(f, edmLossWeight(f, s), d, "x");
  const loss = b.op("ReduceMean", [weighted], "loss_value", { keepdims: 0 });
  return { loss, frozen: new Set() };
}
