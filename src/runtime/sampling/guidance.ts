// Classifier-free guidance: ε (or D) = u + s·(c − u) on the guided channels only, with a constant
// scale or the MDT power-cosine ramp of the official latent sampler [OFF-S]:
//   s(t) = 1 + (s − 1)·½·(1 − cos(π·(1 − t/T)^k))
// where t/T runs from 1 (pure noise) to 0, so guidance grows towards the end of sampling.
import * as tf from "@tensorflow/tfjs";

export interface GuidanceConfig {
  scale: number;
  schedule: "constant" | "power-cosine";
  exponent: number;
  channels: number[] | "all";
}

/** The guidance scale at progress `remaining` ∈ [0, 1] (1 at the start of sampling, 0 at the end). */
export function guidanceScale(g: GuidanceConfig, remaining: number): number {
  if (g.schedule === "constant") return g.scale;
  return 1 + ((g.scale - 1) * (1 - Math.cos(Math.PI * (1 - remaining) ** g.exponent))) / 2;
}

/** Combines conditional and unconditional predictions [N, H, W, C] on the guided channels. */
export function guide(
  cond: tf.Tensor,
  uncond: tf.Tensor,
  scale: number,
  channels: number[] | "all",
): tf.Tensor {
  return tf.tidy(() => {
    const guided = tf.add(uncond, tf.mul(tf.sub(cond, uncond), scale));
    if (channels === "all") return guided;
    const c = cond.shape[3] ?? 0;
    const mask = tf.tensor4d(
      Array.from({ length: c }, (_, i) => (channels.includes(i) ? 1 : 0)),
      [1, 1, 1, c],
    );
    // Unguided channels keep the conditional prediction, as forward_with_cfg does [OFF].
    return tf.add(tf.mul(guided, mask), tf.mul(cond, tf.sub(1, mask)));
  });
}
