// Parity of an exported file with the tfjs model: the same random inputs through onnxruntime and
// tfjs at batch 1 and 3, max absolute and relative error per output (relative = max|a − b| / max|b|).
import * as tf from "@tensorflow/tfjs";
import { buildGraph } from "../../compiler/ir/build.ts";
import type { Graph } from "../../compiler/ir/types.ts";
import { validateInstance } from "../../compiler/pipeline.ts";
import type { ResolvedSpec } from "../../compiler/resolve-defaults.ts";
import { InputError } from "../../errors.ts";
import { denoise } from "../diffusion/edm.ts";
import { Rng } from "../random.ts";
import { TfjsModel } from "../tfjs/model.ts";
import { nhwcToNchw } from "./layout.ts";
import { checkSignature, DataType, type Expected, readOnnxFile } from "./model-file.ts";
import { openSession, ort } from "./session.ts";

export interface ParityRow {
  batch: number;
  output: string;
  maxAbs: number;
  maxRel: number;
}

export interface VerifyResult {
  rows: ParityRow[];
  threshold: number;
  /** "abs" for float32 files; "rel" for float16 weights, whose rounding scales with the output. */
  measure: "abs" | "rel";
  passed: boolean;
  spec: ResolvedSpec;
}

const REEXPORT = "export the model again with `diffit export`, or sample from the spec and its --checkpoint";

/** The inputs and outputs `diffit export` writes for a spec: what the samplers feed and read. */
export function exportedSignature(
  graph: Graph,
  denoiser: boolean,
): { inputs: Expected[]; outputs: Expected[] } {
  const [, h = 0, w = 0, c = 0] = graph.nodes[graph.inputs.x ?? -1]?.out.shape ?? [];
  const [, , , cOut = 0] = graph.nodes[graph.outputs.out ?? -1]?.out.shape ?? [];
  const inputs: Expected[] = [
    { name: "x", elemType: DataType.FLOAT, dims: ["N", c, h, w] },
    { name: denoiser ? "sigma" : "t", elemType: DataType.FLOAT, dims: ["N"] },
  ];
  if (graph.inputs.y !== undefined) inputs.push({ name: "y", elemType: DataType.INT64, dims: ["N"] });
  return { inputs, outputs: [{ name: "out", elemType: DataType.FLOAT, dims: ["N", cOut, h, w] }] };
}

/**
 * The spec an exported file carries, after checking the file: an ONNX model, its diffit.spec
 * metadata JSON that this compiler accepts, and its inputs and outputs those of that spec.
 */
export function specFromOnnx(path: string): { spec: ResolvedSpec; meta: Record<string, string> } {
  const file = readOnnxFile(path);
  const meta = file.metadata;
  const text = meta["diffit.spec"];
  if (!text)
    throw new InputError(`${path} has no diffit.spec metadata (was it exported by diffit?); ${REEXPORT}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputError(
      `${path}: its diffit.spec metadata is not JSON (${e instanceof Error ? e.message : e}); ${REEXPORT}`,
    );
  }
  const r = validateInstance(value);
  if (!r.spec)
    throw new InputError(
      `${path} carries a spec this compiler rejects: ${r.diagnostics.map((d) => d.message).join("; ")}; ${REEXPORT}`,
    );
  const denoiser = meta["diffit.denoiser"];
  if (denoiser !== undefined && denoiser !== "edm" && denoiser !== "raw")
    throw new InputError(
      `${path}: its diffit.denoiser metadata is ${JSON.stringify(denoiser)}, not raw or edm; ${REEXPORT}`,
    );
  const { inputs, outputs } = exportedSignature(buildGraph(r.spec), denoiser === "edm");
  checkSignature(file, inputs, outputs, `the spec ${r.spec.name} it carries`, REEXPORT);
  return { spec: r.spec, meta };
}

function randomInputs(spec: ResolvedSpec, graph: Graph, n: number, denoiser: boolean, rng: Rng) {
  const xNode = graph.nodes[graph.inputs.x ?? -1];
  if (!xNode) throw new Error("the graph has no x input");
  const [, h, w, c] = xNode.out.shape as [unknown, number, number, number];
  const x = Float32Array.from({ length: n * h * w * c }, () => rng.normal());
  const levels = Array.from({ length: n }, () =>
    denoiser
      ? Math.exp(Math.log(0.01) + rng.uniform() * Math.log(5000))
      : spec.diffusion.kind === "edm"
        ? rng.uniform() * 3 - 2
        : rng.int(1000),
  );
  const labels =
    graph.inputs.y === undefined
      ? undefined
      : Array.from({ length: n }, () => rng.int(spec.conditioning.classes + 1));
  return { x, levels, labels, h, w, c };
}

export async function verifyOnnx(
  path: string,
  weights: Map<string, Float32Array>,
  threshold?: number,
): Promise<VerifyResult> {
  const { spec, meta } = specFromOnnx(path);
  const denoiser = meta["diffit.denoiser"] === "edm";
  const fp16 = meta["diffit.weights"] === "float16";
  const graph = buildGraph(spec);
  const model = TfjsModel.fromWeights(graph, weights);
  const session = await openSession(path);
  const rng = new Rng(7, "verify");
  const rows: ParityRow[] = [];
  try {
    for (const n of [1, 3]) {
      const { x, levels, labels, h, w, c } = randomInputs(spec, graph, n, denoiser, rng);
      const expected = tf.tidy(() => {
        const xt = tf.tensor4d(x, [n, h, w, c]);
        const y = labels ? tf.tensor1d(labels, "int32") : undefined;
        const net = (xi: tf.Tensor, t: tf.Tensor, yi?: tf.Tensor) =>
          model.forward({ x: xi, t, y: yi }, { release: true });
        const out =
          denoiser && spec.diffusion.kind === "edm"
            ? denoise(spec.diffusion, net, xt, levels, y)
            : net(xt, tf.tensor1d(levels), y);
        return tf.transpose(out, [0, 3, 1, 2]);
      });
      const feeds: Record<string, ort.Tensor> = {
        x: new ort.Tensor("float32", nhwcToNchw(x, n, h, w, c), [n, c, h, w]),
        [denoiser ? "sigma" : "t"]: new ort.Tensor("float32", Float32Array.from(levels), [n]),
      };
      if (labels) feeds.y = new ort.Tensor("int64", BigInt64Array.from(labels.map((l) => BigInt(l))), [n]);
      const got = (await session.run(feeds)).out?.data as Float32Array;
      const ref = expected.dataSync();
      expected.dispose();
      let maxAbs = 0;
      let scale = 0;
      for (let i = 0; i < ref.length; i++) {
        maxAbs = Math.max(maxAbs, Math.abs((got[i] ?? Number.NaN) - (ref[i] ?? 0)));
        scale = Math.max(scale, Math.abs(ref[i] ?? 0));
      }
      if (got.length !== ref.length) maxAbs = Number.POSITIVE_INFINITY;
      rows.push({ batch: n, output: "out", maxAbs, maxRel: maxAbs / Math.max(scale, 1e-12) });
    }
  } finally {
    model.dispose();
    await session.release();
  }
  const measure = fp16 ? "rel" : "abs";
  const limit = threshold ?? (fp16 ? 2e-2 : 1e-4);
  const passed = rows.every(
    (r) => (measure === "abs" ? r.maxAbs : r.maxRel) <= limit && Number.isFinite(r.maxAbs),
  );
  return { rows, threshold: limit, measure, passed, spec };
}
