// `diffit build`: compile a resolved spec to a tfjs model on the selected backend, run one
// forward pass as a smoke test, and optionally write the initialised weights.
import * as tf from "@tensorflow/tfjs";
import { analyze } from "../compiler/analysis.ts";
import { buildGraph } from "../compiler/ir/build.ts";
import type { ResolvedEntry } from "../compiler/pipeline.ts";
import { checkpointMetadata, saveWeights } from "./checkpoint/model-checkpoint.ts";
import { TfjsModel } from "./tfjs/model.ts";

export interface BuildReport {
  name: string;
  params: number;
  variables: number;
  outputShape: number[];
  forwardMs: number;
  checkpoint?: string;
}

export function buildAndCheck(entry: ResolvedEntry, seed: number, checkpoint?: string): BuildReport {
  const graph = buildGraph(entry.spec);
  const model = TfjsModel.create(graph, seed);
  try {
    const shape = graph.nodes[graph.inputs.x ?? -1]?.out.shape.slice(1) as number[];
    const t0 = performance.now();
    const out = tf.tidy(() => {
      const inputs = {
        x: tf.randomNormal([1, ...shape]),
        t: tf.zeros([1]),
        y: graph.inputs.y === undefined ? undefined : tf.zeros([1], "int32"),
      };
      return model.forward(inputs);
    });
    out.dataSync();
    const forwardMs = performance.now() - t0;
    const report: BuildReport = {
      name: entry.name,
      params: analyze(graph).totals.params,
      variables: model.variables.size,
      outputShape: out.shape,
      forwardMs,
    };
    out.dispose();
    if (checkpoint) {
      saveWeights(checkpoint, model.weights(), graph, { ...checkpointMetadata(entry), seed: String(seed) });
      report.checkpoint = checkpoint;
    }
    return report;
  } finally {
    model.dispose();
  }
}
