// The ADM training loss on tfjs (`training_losses`, model_mean_type EPSILON), over the formulas of
// src/compiler/formulas/ddpm.ts.
import * as tf from "@tensorflow/tfjs";
import { epsError } from "../../compiler/formulas/ddpm.ts";
import { tfjsOps } from "../tfjs-scalar-ops.ts";
import type { GaussianDiffusion } from "./ddpm.ts";
import type { Network } from "./edm.ts";
import { meanFlat } from "./gaussian.ts";

/** Identity forward, zero gradient (tfjs has no stop_gradient / detach). */
const stopGradient = tf.customGrad((x) => {
  if (!(x instanceof tf.Tensor)) throw new Error("stopGradient: expected a tensor");
  return { value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
});

export interface DdpmLossTerms {
  /** Mean over the batch of mse + vb. */
  loss: tf.Scalar;
  /** ‖ε − ε̂‖² averaged over the elements, per sample [N]. */
  mse: tf.Tensor1D;
  /** VB term in bits/dim per sample [N]; zeros when the variance is not learned or the loss is mse. */
  vb: tf.Tensor1D;
}

/**
 * The ADM training terms from a model output already computed on x_t = qSample(x0, t, noise):
 *   mse:    L_simple = mean_flat((ε − ε̂)²)                                           DDPM eq. 14
 *   hybrid: L_simple + L_vb, where L_vb is `vbTermsBpd` on [stop_gradient(ε̂), v], so the VB
 *           term trains only the variance (IDDPM §3.1; λ = 0.001 of IDDPM eq. 16 times the
 *           T = 1000 terms that one uniform t stands for gives ADM's weight 1, unrescaled).
 * The VB term exists only for a learned variance (ADM adds it only then); with a fixed variance
 * "hybrid" equals "mse".
 */
export function ddpmLossTerms(
  d: GaussianDiffusion,
  output: tf.Tensor,
  x0: tf.Tensor,
  xt: tf.Tensor,
  noise: tf.Tensor,
  t: readonly number[],
): DdpmLossTerms {
  return tf.tidy(() => {
    const c = x0.shape[3] ?? 0;
    const { eps, varValues } = d.splitOutput(output, c);
    const mse = meanFlat(epsError(tfjsOps, noise, eps));
    let vb: tf.Tensor1D;
    if (d.loss === "hybrid" && varValues) {
      const frozen = tf.concat([stopGradient(eps), varValues], 3);
      vb = d.vbTermsBpd(frozen, x0, xt, t);
    } else {
      vb = tf.zeros([t.length]);
    }
    return { loss: tf.mean(tf.add(mse, vb)) as tf.Scalar, mse, vb };
  });
}

/**
 * The DDPM training loss for clean data x0 [N,H,W,C], unit noise and timestep indices t (drawn
 * uniformly by the caller): the network sees x_t and the original-scale timestep.
 */
export function ddpmLoss(
  d: GaussianDiffusion,
  net: Network,
  x0: tf.Tensor,
  noise: tf.Tensor,
  t: readonly number[],
  y?: tf.Tensor,
): tf.Scalar {
  return tf.tidy(() => {
    const xt = d.qSample(x0, t, noise);
    const output = net(xt, d.networkTimesteps(t), y);
    return ddpmLossTerms(d, output, x0, xt, noise, t).loss;
  });
}
