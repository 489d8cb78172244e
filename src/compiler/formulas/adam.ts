// Adam / AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019) and global-norm gradient clipping,
// written once for every engine (./scalar-ops.ts): the tfjs trainer applies them per variable,
// the ONNX training step to the flat vector of every trainable parameter.
//   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  w ← w − lr·(m̂/(√v̂ + ε) + wd·w)  (AdamW, decoupled)
// with m̂ = m/(1 − β1^t), v̂ = v/(1 − β2^t). With "adam", weight decay is an L2 term added to the
// gradient instead, as torch.optim.Adam does.
import { numberOps, type Operand, type ScalarOps } from "./scalar-ops.ts";

export interface AdamOptions {
  kind: "adam" | "adamw";
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
}

/** ε of both training engines (torch's default). */
export const ADAM_EPS = 1e-8;

/** The optimizer state of some weights. */
export interface AdamState<T> {
  w: T;
  m: T;
  v: T;
}

/** The step's scalars: the learning rate and the bias corrections 1 − β1^t, 1 − β2^t. */
export interface AdamStepScalars<T> {
  lr: Operand<T>;
  bc1: Operand<T>;
  bc2: Operand<T>;
}

/** 1 − β^t, the bias correction of a moment after t steps. */
export const biasCorrection = <T>(ops: ScalarOps<T>, beta: number, step: Operand<T>): T =>
  ops.sub(1, ops.pow(beta, step));

/** lr, bc1 and bc2 of optimizer step `step` (counting from 1), in float64. */
export const adamStepScalars = (
  o: Pick<AdamOptions, "betas">,
  lr: number,
  step: number,
): Record<keyof AdamStepScalars<number>, number> => ({
  lr,
  bc1: biasCorrection(numberOps, o.betas[0], step),
  bc2: biasCorrection(numberOps, o.betas[1], step),
});

/** The state after one step on gradient g. */
export function adamUpdate<T>(
  ops: ScalarOps<T>,
  o: AdamOptions,
  s: AdamState<T>,
  grad: T,
  k: AdamStepScalars<T>,
): AdamState<T> {
  const [b1, b2] = o.betas;
  const wd = o.weightDecay;
  const g = o.kind === "adam" && wd > 0 ? ops.add(grad, ops.mul(s.w, wd)) : grad;
  const m = ops.add(ops.mul(s.m, b1), ops.mul(g, 1 - b1));
  const v = ops.add(ops.mul(s.v, b2), ops.mul(ops.square(g), 1 - b2));
  let update = ops.div(ops.div(m, k.bc1), ops.add(ops.sqrt(ops.div(v, k.bc2)), o.eps));
  if (o.kind === "adamw" && wd > 0) update = ops.add(update, ops.mul(s.w, wd));
  return { w: ops.sub(s.w, ops.mul(update, k.lr)), m, v };
}

/** The factor that scales gradients of global norm ‖g‖ to at most `maxNorm`: maxNorm/(‖g‖ + 1e-6) where ‖g‖ > maxNorm, else 1. */
export const clipScale = <T>(ops: ScalarOps<T>, norm: T, maxNorm: number): T =>
  ops.where(ops.greater(norm, maxNorm), ops.div(maxNorm, ops.add(norm, 1e-6)), 1);
