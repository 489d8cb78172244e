// Classifier-free guidance on tfjs (the formulas: src/compiler/formulas/guidance.ts), on the
// guided channels only.
import * as tf from "@tensorflow/tfjs";
import { type GuidanceRamp, guidanceScaleAt, guidedPrediction } from "../../compiler/formulas/guidance.ts";
import { numberOps } from "../../compiler/formulas/scalar-ops.ts";
import { tfjsOps } from "../tfjs-scalar-ops.ts";

export interface GuidanceConfig extends GuidanceRamp {
  channels: number[] | "all";
}

/** The guidance scale at progress `remaining` ∈ [0, 1] (1 at the start of sampling, 0 at the end). */
export const guidanceScale = (g: GuidanceRamp, remaining: number): number =>
  guidanceScaleAt(numberOps, g, remaining);

/** Combines conditional and unconditional predictions [N, H, W, C] on the guided channels. */
export function guide(
  cond: tf.Tensor,
  uncond: tf.Tensor,
  scale: number,
  channels: number[] | "all",
): tf.Tensor {
  return tf.tidy(() => {
    const mixed = guidedPrediction(tfjsOps, cond, uncond, scale);
    if (channels === "all") return mixed;
    const c = cond.shape[3] ?? 0;
    const mask = tf.tensor4d(
      Array.from({ length: c }, (_, i) => (channels.includes(i) ? 1 : 0)),
      [1, 1, 1, c],
    );
    // Unguided channels keep the conditional prediction, as forward_with_cfg does [OFF].
    return tf.add(tf.mul(mixed, mask), tf.mul(cond, tf.sub(1, mask)));
  });
}
