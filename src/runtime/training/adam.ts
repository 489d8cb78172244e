// Adam and AdamW (src/compiler/formulas/adam.ts) with tfjs ops over named variables, so the
// optimizer state (moments, step) is plain named tensors: saved in checkpoints, restored exactly,
// and the same update rule the ONNX training engine emits.
import * as tf from "@tensorflow/tfjs";
import { type AdamOptions, adamStepScalars, adamUpdate, clipScale } from "../../compiler/formulas/adam.ts";
import { numberOps } from "../../compiler/formulas/scalar-ops.ts";
import { tfjsOps } from "../tfjs-scalar-ops.ts";

export type { AdamOptions };

export class Adam {
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();
  step = 0;

  constructor(
    private readonly vars: ReadonlyMap<string, tf.Variable>,
    private readonly options: AdamOptions,
  ) {
    for (const [name, w] of vars) {
      if (!w.trainable) continue;
      this.m.set(
        name,
        tf.tidy(() => tf.variable(tf.zerosLike(w), false)),
      );
      this.v.set(
        name,
        tf.tidy(() => tf.variable(tf.zerosLike(w), false)),
      );
    }
  }

  /** One update with learning rate `lr`; `grads` are keyed by variable name. */
  apply(grads: tf.NamedTensorMap, lr: number): void {
    this.step++;
    const scalars = adamStepScalars(this.options, lr, this.step);
    tf.tidy(() => {
      for (const [name, g] of Object.entries(grads)) {
        const w = this.vars.get(name);
        const m = this.m.get(name);
        const v = this.v.get(name);
        if (!w || !m || !v) throw new Error(`optimizer has no state for ${name}`);
        const next = adamUpdate(tfjsOps, this.options, { w, m, v }, g, scalars);
        m.assign(next.m);
        v.assign(next.v);
        w.assign(next.w);
      }
    });
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}

/** Scales gradients so their global L2 norm is at most `maxNorm`; returns the norm before. */
export function clipByGlobalNorm(grads: tf.NamedTensorMap, maxNorm: number | null): number {
  const norm = Math.sqrt(
    tf.tidy(
      () =>
        Object.values(grads)
          .reduce<tf.Tensor>((acc, g) => tf.add(acc, tf.sum(tf.square(g))), tf.scalar(0))
          .dataSync()[0] ?? 0,
    ),
  );
  const scale = maxNorm === null ? 1 : clipScale(numberOps, norm, maxNorm);
  if (scale !== 1) {
    for (const [name, g] of Object.entries(grads)) {
      grads[name] = tf.mul(g, scale);
      g.dispose();
    }
  }
  return norm;
}

/** Linear warm-up from 0 to `lr` over `warmupSteps` (step counts from 1). */
export function learningRate(lr: number, warmupSteps: number, step: number): number {
  return warmupSteps > 0 ? lr * Math.min(1, step / warmupSteps) : lr;
}
