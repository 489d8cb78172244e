// Gradients of a batch computed in micro-batches and averaged: the same update as one large
// batch (for a loss that is a mean over samples), at the memory of one micro-batch. tfjs keeps
// every intermediate of the forward pass for the backward pass, so a full-width CIFAR model
// needs ~2 GB per sample on wasm, whose heap cannot exceed 4 GB.
import * as tf from "@tensorflow/tfjs";

export interface Accumulated {
  /** Mean of the micro-batch losses. */
  loss: number;
  /** Mean gradient per parameter name; the caller disposes them. */
  grads: tf.NamedTensorMap;
}

/** `vars` maps parameter names to variables; gradients come back under the same names. */
export function accumulateGradients(
  vars: ReadonlyMap<string, tf.Variable>,
  parts: number,
  lossOf: (part: number) => tf.Scalar,
): Accumulated {
  const trainable = [...vars].filter(([, v]) => v.trainable);
  const byTfName = new Map(trainable.map(([name, v]) => [v.name, name]));
  const list = trainable.map(([, v]) => v);
  let sum: tf.NamedTensorMap = {};
  let loss = 0;
  for (let part = 0; part < parts; part++) {
    const { value, grads } = tf.variableGrads(() => lossOf(part), list);
    loss += value.dataSync()[0] ?? Number.NaN;
    value.dispose();
    const next: tf.NamedTensorMap = {};
    for (const [tfName, g] of Object.entries(grads)) {
      const name = byTfName.get(tfName) ?? tfName;
      const prev = sum[name];
      next[name] = prev ? tf.add(prev, g) : g;
      if (prev) tf.dispose([prev, g]);
    }
    sum = next;
  }
  if (parts === 1) return { loss, grads: sum };
  const grads: tf.NamedTensorMap = {};
  for (const [name, g] of Object.entries(sum)) {
    grads[name] = tf.div(g, parts);
    g.dispose();
  }
  return { loss: loss / parts, grads };
}
