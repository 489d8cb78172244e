// Classifier-free guidance, written once for every engine (./scalar-ops.ts): ε (or D) = u + s·(c − u)
// from the conditional and unconditional predictions, with a constant scale or the MDT
// power-cosine ramp of the official latent sampler [OFF-S]:
//   s(t) = 1 + (s − 1)·½·(1 − cos(π·(1 − t/T)^k))
// where t/T runs from 1 (pure noise) to 0, so guidance grows towards the end of sampling.
import type { Operand, ScalarOps } from "./scalar-ops.ts";

export interface GuidanceRamp {
  scale: number;
  schedule: "constant" | "power-cosine";
  exponent: number;
}

/** The guidance scale at progress `remaining` ∈ [0, 1] (1 at the start of sampling, 0 at the end). */
export function guidanceScaleAt<T>(ops: ScalarOps<T>, g: GuidanceRamp, remaining: T): Operand<T> {
  if (g.schedule === "constant") return g.scale;
  const ramp = ops.sub(1, ops.cos(ops.mul(Math.PI, ops.pow(ops.sub(1, remaining), g.exponent))));
  return ops.add(1, ops.div(ops.mul(g.scale - 1, ramp), 2));
}

/** u + s·(c − u). */
export const guidedPrediction = <T>(ops: ScalarOps<T>, cond: T, uncond: T, scale: Operand<T>): T =>
  ops.add(uncond, ops.mul(ops.sub(cond, uncond), scale));
