// A data-parallel replica of the ONNX training engine (replicas.ts): one onnxruntime session of the
// step's gradient graph, on one thread of its own. Plain JavaScript because a worker thread loads
// its entry point without the TypeScript loader of the main thread.
//   in:  { bytes, threads } as workerData; then { id, feeds: { name: { type, data, dims } } }
//   out: "ready"; then { id, outputs: { name: { data, dims } } } or { id, error }
import { parentPort, workerData } from "node:worker_threads";
import * as ort from "onnxruntime-node";

const session = await ort.InferenceSession.create(workerData.bytes, {
  executionProviders: ["cpu"],
  intraOpNumThreads: workerData.threads,
  interOpNumThreads: 1,
  graphOptimizationLevel: "all",
});

parentPort?.on("message", async ({ id, feeds }) => {
  try {
    const tensors = {};
    for (const [name, t] of Object.entries(feeds)) tensors[name] = new ort.Tensor(t.type, t.data, t.dims);
    const results = await session.run(tensors);
    const outputs = {};
    const transfer = [];
    for (const [name, t] of Object.entries(results)) {
      outputs[name] = { data: t.data, dims: t.dims };
      transfer.push(t.data.buffer);
    }
    parentPort?.postMessage({ id, outputs }, transfer);
  } catch (e) {
    parentPort?.postMessage({ id, error: String(e instanceof Error ? e.message : e) });
  }
});
parentPort?.postMessage("ready");
