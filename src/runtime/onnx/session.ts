// onnxruntime-node sessions: CPU execution provider with one intra-op thread per core (CUDA when
// DIFFIT_ORT_EP=cuda and the user installed it), and the diffit metadata of a file.
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import * as ort from "onnxruntime-node";
import { onnx } from "../../compiler/emit/onnx/proto.ts";
import { InputError } from "../../errors.ts";

export async function openSession(path: string): Promise<ort.InferenceSession> {
  const ep = process.env.DIFFIT_ORT_EP === "cuda" ? ["cuda", "cpu"] : ["cpu"];
  try {
    return await ort.InferenceSession.create(path, {
      executionProviders: ep,
      intraOpNumThreads: cpus().length,
      graphOptimizationLevel: "all",
    });
  } catch (e) {
    throw new InputError(
      `onnxruntime cannot load ${path}: ${e instanceof Error ? e.message.split("\n")[0] : e}`,
    );
  }
}

/** The metadata_props of an ONNX file (the graph is decoded; external data is not read). */
export function onnxMetadata(path: string): Record<string, string> {
  let model: ReturnType<typeof onnx.ModelProto.decode>;
  try {
    model = onnx.ModelProto.decode(readFileSync(path));
  } catch (e) {
    throw new InputError(`${path} is not an ONNX model: ${e instanceof Error ? e.message : e}`);
  }
  return Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? "", p.value ?? ""]));
}

export { ort };
