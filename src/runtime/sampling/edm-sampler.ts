// EDM samplers [Karras et al. 2022, Alg. 1]: deterministic Heun (2nd order; NFE = 2N − 1) and
// Euler, on the EDM noise levels, with classifier-free guidance batched into one network call.
import * as tf from "@tensorflow/tfjs";
import { edmSlope, eulerStep, heunStep } from "../../compiler/formulas/edm.ts";
import { denoise, type EdmConfig, karrasSigmas, type Network } from "../diffusion/edm.ts";
import { Rng } from "../random.ts";
import { tfjsOps } from "../tfjs-scalar-ops.ts";
import { type GuidanceConfig, guidanceScale, guide } from "./guidance.ts";

export interface EdmSampleOptions {
  sampler: "heun" | "euler";
  steps: number;
  seed: number;
  /** Class labels (conditional models); the null class is `nullLabel`. */
  labels?: number[];
  nullLabel?: number;
  guidance?: GuidanceConfig;
  onStep?: (step: number, total: number) => void;
}

export interface SampleResult {
  /** [N, H, W, C] in the data range (≈ [−1, 1]). */
  images: tf.Tensor;
  nfe: number;
}

export function gaussian(rng: Rng, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal();
  return out;
}

export function sampleEdm(
  c: EdmConfig,
  net: Network,
  shape: [number, number, number, number],
  o: EdmSampleOptions,
): SampleResult {
  const n = shape[0];
  const sigmas = karrasSigmas(c, o.steps);
  const rng = new Rng(o.seed, "sample/edm");
  const labels = o.labels;
  const guided =
    labels !== undefined && o.guidance !== undefined && o.guidance.scale !== 1 && o.nullLabel !== undefined;
  let nfe = 0;

  const d = (x: tf.Tensor, sigma: number, remaining: number): tf.Tensor => {
    nfe++;
    if (!guided || !labels || !o.guidance) {
      const y = labels ? tf.tensor1d(labels, "int32") : undefined;
      const out = denoise(c, net, x, new Array(n).fill(sigma), y);
      y?.dispose();
      return out;
    }
    const g = o.guidance;
    return tf.tidy(() => {
      // One call on [x; x] with [labels; null]: the conditional and unconditional halves.
      const y = tf.tensor1d([...labels, ...new Array(n).fill(o.nullLabel)], "int32");
      const both = denoise(c, net, tf.concat([x, x], 0), new Array(2 * n).fill(sigma), y);
      const [cond, uncond] = tf.split(both, 2, 0) as [tf.Tensor, tf.Tensor];
      return guide(cond, uncond, guidanceScale(g, remaining), g.channels);
    });
  };

  let x = tf.mul(
    tf.tensor4d(
      gaussian(
        rng,
        shape.reduce((a, b) => a * b, 1),
      ),
      shape,
    ),
    sigmas[0] ?? 0,
  );
  for (let i = 0; i < o.steps; i++) {
    const s = sigmas[i] ?? 0;
    const next = sigmas[i + 1] ?? 0;
    const remaining = 1 - i / o.steps;
    const den = d(x, s, remaining);
    const slope = tf.tidy(() => edmSlope(tfjsOps, x, den, s));
    den.dispose();
    let xNext = tf.tidy(() => eulerStep(tfjsOps, x, slope, s, next));
    if (o.sampler === "heun" && next > 0) {
      const den2 = d(xNext, next, 1 - (i + 1) / o.steps);
      const corrected = tf.tidy(() =>
        heunStep(tfjsOps, x, slope, edmSlope(tfjsOps, xNext, den2, next), s, next),
      );
      den2.dispose();
      xNext.dispose();
      xNext = corrected;
    }
    slope.dispose();
    x.dispose();
    x = xNext;
    o.onStep?.(i + 1, o.steps);
  }
  return { images: x, nfe };
}
