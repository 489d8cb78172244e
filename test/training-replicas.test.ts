// A replica in a worker thread must be released safely while its session is still running:
// terminating a worker inside onnxruntime's native run aborts the whole process (seen when the
// main-thread replica failed on a bad batch and the engine released the others at once).

import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { renderGraph } from "../src/compiler/emit/onnx/render.ts";
import { TensorGraph } from "../src/compiler/tensor/graph.ts";
import { workerRunner } from "../src/runtime/training/replicas.ts";
import { encodeRendered } from "./helpers/onnx-model.ts";

/** A graph slow enough (a chain of 512² MatMuls, ~0.1 s) that release comes while it runs. */
function slowGraph(n: number, links: number): Uint8Array {
  const b = new TensorGraph();
  const x = b.input("x", [n, n]);
  let y = x;
  for (let i = 0; i < links; i++) y = b.op("Tanh", [b.op("MatMul", [y, x], `mm${i}`)], `t${i}`);
  b.alias(y, "y");
  return encodeRendered("slow", renderGraph(b, 17), [["x", [n, n]]], [["y", [n, n]]]);
}

describe("worker replicas", () => {
  it("release waits for a run in flight instead of terminating inside it", async () => {
    const n = 512;
    const runner = await workerRunner(slowGraph(n, 40), 1);
    const x = new ort.Tensor("float32", new Float32Array(n * n).fill(0.01), [n, n]);
    const run = runner.run({ x });
    await runner.release(); // before the run is done
    const out = await run;
    expect(out.y?.dims).toEqual([n, n]);
    // Every entry of y_k is a_k, with a_0 = 0.01 and a_k+1 = tanh(a_k · 0.01 · n).
    let a = 0.01;
    for (let i = 0; i < 40; i++) a = Math.tanh(a * 0.01 * n);
    expect(out.y?.data[0]).toBeCloseTo(a, 5);
  });
});
