// Spec + weights → an ONNX file, with the metadata a deployment needs to know what it holds.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { analyze } from "../../compiler/analysis.ts";
import { emitOnnx } from "../../compiler/emit/onnx/emit.ts";
import { type WriteResult, writeOnnx } from "../../compiler/emit/onnx/write.ts";
import { buildGraph } from "../../compiler/ir/build.ts";
import { canonicalJson, type ResolvedEntry } from "../../compiler/pipeline.ts";
import { weightsDigest } from "../checkpoint/weights-digest.ts";
import { initialValues } from "../init.ts";

export const COMPILER_VERSION = "0.1.0";

export interface ExportOptions {
  opset: number;
  fp16: boolean;
  denoiser: "raw" | "edm";
  /** Weights by parameter name; when absent, the IR's seeded initialisation (for tests and sizing). */
  weights?: Map<string, Float32Array>;
  seed?: number;
  threshold?: number;
  onTensor?: (done: number, total: number) => void;
}

export function exportOnnx(entry: ResolvedEntry, path: string, o: ExportOptions): WriteResult {
  const graph = buildGraph(entry.spec);
  const byName = new Map(graph.params.map((p) => [p.name, p]));
  const weights = (name: string): Float32Array => {
    const given = o.weights?.get(name);
    if (given) return given;
    if (o.weights) throw new Error(`no weights for ${name}`);
    const p = byName.get(name);
    if (!p) throw new Error(`unknown parameter ${name}`);
    return initialValues(p, o.seed ?? 0);
  };
  const emitted = emitOnnx(graph, {
    opset: o.opset,
    fp16: o.fp16,
    denoiser: o.denoiser,
    diffusion: entry.spec.diffusion,
    weights,
    producerVersion: COMPILER_VERSION,
    metadata: {
      "diffit.spec": canonicalJson(entry.spec),
      "diffit.spec_hash": entry.hash,
      "diffit.compiler_version": COMPILER_VERSION,
      "diffit.params": String(analyze(graph).totals.params),
      "diffit.denoiser": o.denoiser,
      "diffit.weights": o.fp16 ? "float16" : "float32",
      // Of given float32 weights, before any float16 rounding: what `verify --checkpoint` compares.
      // Seeded random weights go without: digesting them would compute every value twice.
      ...(o.weights ? { "diffit.weights_sha256": weightsDigest(graph.params, weights) } : {}),
      "diffit.inputs":
        o.denoiser === "edm"
          ? "x [N,C,H,W] float32 noisy image; sigma [N] float32 noise level; y [N] int64 class (null class = classes)"
          : "x [N,C,H,W] float32 network input; t [N] float32 noise conditioning (EDM c_noise = ln(sigma)/4, DDPM timestep); y [N] int64 class",
      "diffit.outputs":
        o.denoiser === "edm"
          ? "out [N,C,H,W] denoised image D(x; sigma)"
          : "out [N,C_out,H,W] raw network output F",
    },
  });
  return writeOnnx(path, emitted, {
    ...(o.threshold !== undefined ? { threshold: o.threshold } : {}),
    ...(o.onTensor ? { onTensor: o.onTensor } : {}),
  });
}

/**
 * Runs `use` on a temporary float32 export of `weights` (opset 17), for work that runs them on
 * ONNX Runtime (sampling a checkpoint, training grids, evaluation); the file is removed after.
 */
export async function withTemporaryExport<T>(
  entry: ResolvedEntry,
  weights: Map<string, Float32Array>,
  use: (path: string) => Promise<T>,
  denoiser: ExportOptions["denoiser"] = "raw",
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "diffit-export-"));
  try {
    const path = join(dir, "model.onnx");
    exportOnnx(entry, path, { opset: 17, fp16: false, denoiser, weights });
    return await use(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
