// Adam and AdamW written with tfjs ops over named variables, so the optimizer state (moments,
// step) is plain named tensors: saved in checkpoints, restored exactly, and the same update
// rule the ONNX training engine emits.
//   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  w ← w − lr·(m̂/(√v̂ + ε) + wd·w) (AdamW, decoupled)
// With "adam", weight decay is an L2 term added to the gradient, as torch.optim.Adam does.
import * as tf from "@tensorflow/tfjs";

export interface AdamOptions {
  kind: "adam" | "adamw";
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
}

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
    const [b1, b2] = this.options.betas;
    const bc1 = 1 - b1 ** this.step;
    const bc2 = 1 - b2 ** this.step;
    const { eps, weightDecay, kind } = this.options;
    tf.tidy(() => {
      for (const [name, g0] of Object.entries(grads)) {
        const w = this.vars.get(name);
        const m = this.m.get(name);
        const v = this.v.get(name);
        if (!w || !m || !v) throw new Error(`optimizer has no state for ${name}`);
        const g = kind === "adam" && weightDecay > 0 ? tf.add(g0, tf.mul(w, weightDecay)) : g0;
        m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
        v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
        let update = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), eps));
        if (kind === "adamw" && weightDecay > 0) update = tf.add(update, tf.mul(w, weightDecay));
        w.assign(tf.sub(w, tf.mul(update, lr)));
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
  if (maxNorm !== null && norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6);
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
