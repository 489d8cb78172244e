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
import { onnxMetadata, openSession, ort } from "./session.ts";

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

export function specFromOnnx(path: string): { spec: ResolvedSpec; meta: Record<string, string> } {
  const meta = onnxMetadata(path);
  const text = meta["diffit.spec"];
  if (!text) throw new InputError(`${path} has no diffit.spec metadata (was it exported by diffit?)`);
  const r = validateInstance(JSON.parse(text));
  if (!r.spec)
    throw new InputError(
      `${path} carries a spec this compiler rejects: ${r.diagnostics.map((d) => d.message).join("; ")}`,
    );
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
