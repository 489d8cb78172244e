// Gaussian helpers of the DDPM / ADM loss on tfjs tensors (ADM `losses.py`, `nn.mean_flat`): the
// formulas of src/compiler/formulas/ddpm.ts evaluated with tfjs ops, and the tensor plumbing
// around them.
import * as tf from "@tensorflow/tfjs";
import * as ddpm from "../../compiler/formulas/ddpm.ts";
import { tfjsOps } from "../tfjs-scalar-ops.ts";

/**
 * [N, H, W, 2C] → ([N, H, W, C], [N, H, W, C]): the first and second half of the channels. Done as
 * reshape → transpose → split on the leading axis, ≈ 6× faster on the tfjs cpu backend than
 * slicing the last axis (whose cpu kernel indexes element by element); same values and gradients.
 */
export function splitChannelHalves(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
  return tf.tidy(() => {
    const [n = 0, h = 0, w = 0, c2 = 0] = x.shape;
    const c = c2 / 2;
    const halves = tf.transpose(tf.reshape(x, [n * h * w, 2, c]), [1, 0, 2]);
    const [a, b] = tf.split(halves, 2, 0) as [tf.Tensor, tf.Tensor];
    return [tf.reshape(a, [n, h, w, c]), tf.reshape(b, [n, h, w, c])];
  });
}

/** Mean over all but the batch axis: [N, ...] → [N] (ADM `mean_flat`). */
export function meanFlat(x: tf.Tensor): tf.Tensor1D {
  return tf.mean(x, x.shape.map((_, i) => i).slice(1)) as tf.Tensor1D;
}

/** KL(N(μ₁, e^{ℓ₁}) ‖ N(μ₂, e^{ℓ₂})) elementwise, in nats (ADM `normal_kl`). */
export function normalKl(
  mean1: tf.Tensor,
  logvar1: tf.Tensor,
  mean2: tf.Tensor,
  logvar2: tf.Tensor,
): tf.Tensor {
  return tf.tidy(() => ddpm.normalKl(tfjsOps, mean1, logvar1, mean2, logvar2));
}

/** Φ(x) ≈ ½(1 + tanh(√(2/π)·(x + 0.044715·x³))) (ADM `approx_standard_normal_cdf`). */
export function approxStandardNormalCdf(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => ddpm.approxStandardNormalCdf(tfjsOps, x));
}

/** The discretised decoder log-likelihood of x under N(means, e^{2·logScales}), elementwise. */
export function discretizedGaussianLogLikelihood(
  x: tf.Tensor,
  means: tf.Tensor,
  logScales: tf.Tensor,
): tf.Tensor {
  return tf.tidy(() => ddpm.discretizedGaussianLogLikelihood(tfjsOps, x, means, logScales));
}
