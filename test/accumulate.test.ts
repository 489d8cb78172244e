// Micro-batch gradient accumulation gives the gradient of the whole batch (for a mean loss):
// equal up to float32 summation order, ~1e-6 relative; 1e-5 leaves margin.
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { buildGraph } from "../src/compiler/ir/build.ts";
import { runFrontEnd } from "../src/compiler/pipeline.ts";
import { selectBackend } from "../src/runtime/backend.ts";
import { accumulateGradients } from "../src/runtime/tfjs/accumulate.ts";
import { TfjsModel } from "../src/runtime/tfjs/model.ts";

beforeAll(async () => {
  await selectBackend("wasm");
});

describe("gradient accumulation", () => {
  it("averages micro-batch gradients into the full-batch gradient", () => {
    const entry = runFrontEnd("specs/tiny-fmnist.json").entries[0];
    if (!entry) throw new Error("no spec");
    const model = TfjsModel.create(buildGraph(entry.spec), 1);
    for (const v of model.trainableVariables)
      v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.05, "float32", 3)));
    const x = tf.randomNormal([4, 32, 32, 1], 0, 1, "float32", 4);
    const t = tf.randomUniform([4], -1, 1, "float32", 5);
    const y = tf.tensor1d([0, 1, 2, 3], "int32");
    const loss = (xs: tf.Tensor, ts: tf.Tensor, ys: tf.Tensor) =>
      tf.mean(tf.square(model.forward({ x: xs, t: ts, y: ys }))) as tf.Scalar;
    const whole = accumulateGradients(model.variables, 1, () => loss(x, t, y));
    const parts = accumulateGradients(model.variables, 2, (i) =>
      tf.tidy(() => loss(tf.slice(x, 2 * i, 2), tf.slice(t, 2 * i, 2), tf.slice(y, 2 * i, 2))),
    );
    expect(Math.abs(parts.loss / whole.loss - 1)).toBeLessThan(1e-5);
    for (const [name, g] of Object.entries(whole.grads)) {
      const other = parts.grads[name];
      if (!other) throw new Error(`missing ${name}`);
      const scale = Math.max(tf.max(tf.abs(g)).dataSync()[0] ?? 0, 1e-8);
      expect(tf.max(tf.abs(tf.sub(g, other))).dataSync()[0] ?? 1).toBeLessThan(1e-5 * scale + 1e-9);
    }
    tf.dispose([...Object.values(whole.grads), ...Object.values(parts.grads), x, t, y]);
    model.dispose();
  }, 60_000);
});
