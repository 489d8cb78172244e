// Exponential moving average of the weights (src/compiler/formulas/ema.ts) over tfjs variables.
import * as tf from "@tensorflow/tfjs";
import { emaUpdate } from "../../compiler/formulas/ema.ts";
import { tfjsOps } from "../tfjs-scalar-ops.ts";

export class Ema {
  readonly shadow = new Map<string, tf.Variable>();

  constructor(
    private readonly vars: ReadonlyMap<string, tf.Variable>,
    readonly decay: number,
  ) {
    for (const [name, w] of vars)
      this.shadow.set(
        name,
        tf.tidy(() => tf.variable(w.clone(), false)),
      );
  }

  /** The EMA step for trainable weights; fixed tables are copied as they are. */
  update(): void {
    tf.tidy(() => {
      for (const [name, w] of this.vars) {
        const e = this.shadow.get(name);
        if (!e || !w.trainable) continue;
        e.assign(emaUpdate(tfjsOps, this.decay, e, w));
      }
    });
  }

  weights(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [name, e] of this.shadow) out.set(name, e.dataSync() as Float32Array);
    return out;
  }

  dispose(): void {
    for (const e of this.shadow.values()) e.dispose();
  }
}
