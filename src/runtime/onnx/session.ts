// onnxruntime-node sessions: CPU execution provider with one intra-op thread per core (CUDA when
// DIFFIT_ORT_EP=cuda and the user installed it), and the diffit metadata of a file.
import { cpus } from "node:os";
import * as ort from "onnxruntime-node";
import { InputError } from "../../errors.ts";
import { statRegularFile } from "../../files.ts";
import { formatBytes, LIMITS } from "../../limits.ts";
import { readOnnxFile } from "./model-file.ts";

/**
 * An onnxruntime session on a file that has been checked to be a regular file within the size
 * limit (onnxruntime would block on a FIFO, or read /dev/zero until memory runs out, in native
 * code where no timeout reaches).
 */
export async function openSession(path: string, what = "ONNX model"): Promise<ort.InferenceSession> {
  const size = statRegularFile(path, what).size;
  if (size > LIMITS.onnxModelBytes)
    throw new InputError(
      `${path} is ${formatBytes(size)}, more than the ${formatBytes(LIMITS.onnxModelBytes)} of an ONNX file; export it again with its weights as external data`,
    );
  const ep = process.env.DIFFIT_ORT_EP === "cuda" ? ["cuda", "cpu"] : ["cpu"];
  try {
    return await ort.InferenceSession.create(path, {
      executionProviders: ep,
      intraOpNumThreads: cpus().length,
      graphOptimizationLevel: "all",
    });
  } catch (e) {
    throw new InputError(
      `onnxruntime cannot load ${path}: ${e instanceof Error ? e.message.split("\n")[0] : e}; export the model again (diffit export), or check that it was written for onnxruntime ${ort.env.versions.common}`,
    );
  }
}

/** The metadata_props of an ONNX file (the graph is decoded and checked; external data is not read). */
export function onnxMetadata(path: string): Record<string, string> {
  return readOnnxFile(path).metadata;
}

export { ort };
