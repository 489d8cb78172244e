// IR + weights → ONNX ModelProto. Inputs are NCHW as deployment expects:
//   x [N, C, H, W] float32; t [N] float32 (EDM: c_noise = ln σ / 4; DDPM: the timestep) — or, with
//   the EDM denoiser wrapper, sigma [N]; y [N] int64 class labels (conditional models; the null
//   class is `classes`). Output `out` [N, C_out, H, W]: the raw network F, or D(x; σ).
// The batch dimension is symbolic ("batch").

import {
  type EdmConfig,
  edmDenoised,
  edmNetworkInput,
  edmNoiseInput,
  edmScalings,
} from "../../formulas/edm.ts";
import { graphOps } from "../../formulas/scalar-ops.ts";
import type { Graph } from "../../ir/types.ts";
import { lowerToTensors } from "../../ops/tensor.ts";
import type { DiffusionConfig } from "../../schema/sections.ts";
import { type Initializer, TensorGraph } from "../../tensor/graph.ts";
import { LowerContext, type LowerOptions, type Val, type WeightSource } from "../../tensor/lower-context.ts";
import {
  DataType,
  irVersionFor,
  type ModelProto,
  onnx,
  SUPPORTED_OPSETS,
  type ValueInfoProto,
} from "./proto.ts";
import { renderGraph, tensorProto } from "./render.ts";

export interface OnnxExportOptions extends LowerOptions {
  /** "edm" wraps the network in EDM's preconditioning, so the file computes D(x; σ). */
  denoiser: "raw" | "edm";
  diffusion: DiffusionConfig;
  weights: WeightSource;
  metadata: Record<string, string>;
  producerVersion: string;
}

export interface EmittedModel {
  /** The model without initializers (they are placed by the writer: inline or external). */
  model: ModelProto;
  initializers: Initializer[];
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/**
 * The EDM denoiser around the network, D(x; σ) = c_skip·x + c_out·F(c_in·x; c_noise(σ)): the
 * network's x and t inputs from the graph inputs x and sigma, and D from its output F.
 */
function denoiserForm(b: TensorGraph, c: EdmConfig) {
  const f = graphOps(b, "edm");
  // The factors per sample as [N, 1, 1, 1]; c_noise stays [N].
  const s = edmScalings(f, c, b.op("Reshape", ["sigma", b.ints([-1, 1, 1, 1])], "sigma4"));
  return {
    x: edmNetworkInput(f, "x", s),
    t: edmNoiseInput(f, c, "sigma"),
    denoised: (out: string) => edmDenoised(f, "x", out, s),
  };
}

export function emitOnnx(graph: Graph, o: OnnxExportOptions): EmittedModel {
  if (!(SUPPORTED_OPSETS as readonly number[]).includes(o.opset)) {
    throw new Error(`opset ${o.opset} is not supported; use ${SUPPORTED_OPSETS.join(", ")}`);
  }
  const b = new TensorGraph();
  const shapes = new Map(graph.params.map((p) => [p.name, p.shape]));
  const ctx = new LowerContext(b, o, o.weights, shapes);
  const xNode = graph.nodes[graph.inputs.x ?? -1];
  const outNode = graph.nodes[graph.outputs.out ?? -1];
  if (!xNode || !outNode) throw new Error("the graph has no x input or no output");
  const [, H, W, C] = xNode.out.shape as [unknown, number, number, number];
  const [, , , Cout] = outNode.out.shape as [unknown, number, number, number];
  const edm = o.denoiser === "edm";
  if (edm && (o.diffusion.kind !== "edm" || o.diffusion.preconditioning !== "edm")) {
    throw new Error("--denoiser edm needs an EDM spec with EDM preconditioning");
  }

  // The batch is symbolic in the file; shapes are inferred inside the emitter with a batch of 1.
  const inputs: ValueInfoProto[] = [
    valueInfo(b.input("x", [1, C, H, W]), DataType.FLOAT, ["batch", C, H, W]),
  ];
  inputs.push(valueInfo(b.input(edm ? "sigma" : "t", [1]), DataType.FLOAT, ["batch"]));
  if (graph.inputs.y !== undefined) inputs.push(valueInfo(b.input("y", [1]), DataType.INT64, ["batch"]));

  const wrap = edm && o.diffusion.kind === "edm" ? denoiserForm(b, o.diffusion) : undefined;
  const xIn: Val = { name: wrap?.x ?? "x", layout: "NCHW" };
  const tIn = wrap?.t ?? "t";

  const values: Val[] = [];
  for (const node of graph.nodes) {
    if (node.op === "input") {
      const role = node.attrs.role;
      values[node.id] = role === "x" ? xIn : { name: role === "t" ? tIn : "y", layout: "flat" };
      continue;
    }
    const ins = node.inputs.map((id) => {
      const v = values[id];
      if (!v) throw new Error(`${node.name} reads node ${id} before it was lowered`);
      return v;
    });
    values[node.id] = lowerToTensors(node, ins, ctx);
  }
  const result = values[outNode.id];
  if (!result) throw new Error("the output was not lowered");
  const f = ctx.as(result, "NCHW").name;
  const out = wrap ? wrap.denoised(f) : f;
  b.alias(out, "out");

  const rendered = renderGraph(b, o.opset);
  const model: ModelProto = {
    irVersion: irVersionFor(o.opset),
    opsetImport: [{ domain: "", version: o.opset }],
    producerName: "diffit",
    producerVersion: o.producerVersion,
    graph: {
      name: graph.name,
      node: rendered.nodes,
      input: inputs,
      output: [valueInfo("out", DataType.FLOAT, ["batch", Cout, H, W])],
    },
    metadataProps: Object.entries(o.metadata).map(([key, value]) => ({ key, value })),
  };
  return { model, initializers: rendered.initializers };
}

/** Encodes a model with every initializer inline (files below the 2 GB protobuf limit). */
export function encodeInline(e: EmittedModel): Uint8Array {
  const graph = { ...e.model.graph, initializer: e.initializers.map((i) => tensorProto(i)) };
  return onnx.ModelProto.encode({ ...e.model, graph }).finish();
}
