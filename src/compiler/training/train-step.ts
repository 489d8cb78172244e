// One training step as one ONNX graph: the diffusion loss (EDM or ADM), the network forward, its
// reverse-mode gradient (src/compiler/autodiff), global-norm clipping, Adam/AdamW and the EMA.
// State goes in and comes back out under paired names, so the engine feeds each step's outputs
// to the next step. The update math mirrors src/runtime/training/{adam,ema}.ts operation for
// operation, so both engines round alike:
//   inputs  x, noise [B, C, H, W]; y [B] int32; lr, bc1 = 1 − β1^t, bc2 = 1 − β2^t; the noise
//           level inputs of the loss (EDM: sigma [B]; ADM: see adm-loss.ts);
//           w:<p> for every parameter; m:<p>, v:<p>, ema:<p> for every trainable one
//   outputs loss, grad_norm (before clipping), next:<input> for each updated state input,
//           and with exposeGradients grad:<p> (the unclipped gradient).
// For micro-batches the step is emitted in two parts (TrainStepOptions.part): "gradients" (one
// micro-batch's loss and grad:<p>) and "update" (the rest, from averaged grad:<p> inputs).
import { appendBackward } from "../autodiff/reverse.ts";
import { DataType, irVersionFor, type ModelProto, onnx, type ValueInfoProto } from "../emit/onnx/proto.ts";
import { renderGraph, tensorProto } from "../emit/onnx/render.ts";
import type { Graph, NodeOf, ParamDef } from "../ir/types.ts";
import type { DiffusionConfig } from "../schema/sections.ts";
import { TensorGraph } from "../tensor/graph.ts";
import type { TensorOpKind } from "../tensor/ops.ts";
import { admLossGraph } from "./adm-loss.ts";
import { edmLossGraph } from "./edm-loss.ts";
import type { LossContext } from "./loss-context.ts";
import { ParamInputContext, paramInput } from "./param-inputs.ts";

// Opset 20 has Gelu(approximate=tanh) as one op, and ReduceMean with axes as an input.
export const TRAIN_STEP_OPSET = 20;

export const stateNames = {
  w: paramInput,
  m: (p: string) => `m:${p}`,
  v: (p: string) => `v:${p}`,
  ema: (p: string) => `ema:${p}`,
};
export const nextOf = (input: string) => `next:${input}`;
export const gradOutput = (p: string) => `grad:${p}`;

export interface TrainStepOptions {
  batch: number;
  optimizer: "adam" | "adamw";
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  gradClip: number | null;
  emaDecay: number;
  exposeGradients?: boolean;
  /**
   * "step" (default): everything in one graph. For micro-batches the step is split in two:
   * "gradients" (loss and grad:<p> of one micro-batch, from the weights and the batch) and
   * "update" (clipping, Adam and EMA from the averaged grad:<p> inputs and the state).
   */
  part?: "step" | "gradients" | "update";
}

export interface TrainStepGraph {
  /** The encoded ModelProto, initializers inline. */
  bytes: Uint8Array;
  trainable: ParamDef[];
  fixed: ParamDef[];
  /** [B, C, H, W] of x and noise. */
  imageDims: [number, number, number, number];
  conditional: boolean;
  nodeCount: number;
  /** One mask input per dropout node with rate > 0. */
  dropouts: DropoutInput[];
  /** The step as tensor-tier IR, before rendering (runnable on tfjs by runTensorGraph). */
  tensors: TensorGraph;
  /** The tensor ops the backward pass differentiated (their VJP rules ran). */
  differentiated: ReadonlySet<TensorOpKind>;
}

/** A dropout mask input: the tfjs trainer's mask for IR node `node`, channels-last [B, ...]. */
export interface DropoutInput {
  input: string;
  node: number;
  rate: number;
  dims: number[];
}

function valueInfo(name: string, elemType: number, dims: readonly number[]): ValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  };
}

/** Why a spec cannot be trained by this graph yet, or undefined when it can. */
export function trainStepUnsupported(graph: Graph): string | undefined {
  const bilinear = graph.nodes.find(
    (n) => n.op === "resize" && n.attrs.mode === "bilinear" && n.attrs.scale !== 2,
  );
  if (bilinear)
    return `the ONNX training engine differentiates bilinear up-sampling by 2 only (${bilinear.name}); use --engine tfjs`;
  return undefined;
}

export function emitTrainStep(graph: Graph, diffusion: DiffusionConfig, o: TrainStepOptions): TrainStepGraph {
  const unsupported = trainStepUnsupported(graph);
  if (unsupported) throw new Error(unsupported);
  const b = new TensorGraph();
  const shapes = new Map(graph.params.map((p) => [p.name, p.shape]));
  const ctx = new ParamInputContext(b, TRAIN_STEP_OPSET, shapes);
  const xNode = graph.nodes[graph.inputs.x ?? -1];
  if (!xNode) throw new Error("the graph has no x input");
  const [, H, W, C] = xNode.out.shape as [unknown, number, number, number];
  const B = o.batch;
  const image: [number, number, number, number] = [B, C, H, W];
  const conditional = graph.inputs.y !== undefined;
  const trainable = graph.params.filter((p) => p.trainable);
  const fixed = graph.params.filter((p) => !p.trainable);

  const inputs: ValueInfoProto[] = [];
  const declare = (name: string, dims: readonly number[], type: number = DataType.FLOAT) => {
    inputs.push(valueInfo(b.input(name, dims), type, dims));
    return name;
  };
  const part = o.part ?? "step";
  const forward = part !== "update";
  const optimize = part !== "gradients";
  if (forward) {
    declare("x", image);
    declare("noise", image);
    if (conditional) declare("y", [B], DataType.INT32);
    for (const p of graph.params) declare(stateNames.w(p.name), p.shape);
  }
  if (optimize) {
    for (const s of ["lr", "bc1", "bc2"]) declare(s, []);
    for (const p of trainable) {
      if (!forward) declare(stateNames.w(p.name), p.shape);
      declare(stateNames.m(p.name), p.shape);
      declare(stateNames.v(p.name), p.shape);
      declare(stateNames.ema(p.name), p.shape);
    }
  }

  const outputs: ValueInfoProto[] = [];
  const emit = (value: string, name: string, dims: readonly number[]) => {
    b.alias(value, name);
    outputs.push(valueInfo(name, DataType.FLOAT, dims));
  };
  const dropouts: DropoutInput[] = [];
  let gradOf: (p: ParamDef) => string;
  let differentiated = new Set<TensorOpKind>();
  if (forward) {
    const dropoutMask = (node: NodeOf<"dropout">) => {
      const dims = [B, ...node.out.shape.slice(1).map(Number)];
      const name = declare(`dropout:${node.name}`, dims);
      dropouts.push({ input: name, node: node.id, rate: node.attrs.rate, dims });
      return name;
    };
    const lossCtx: LossContext = { b, ctx, graph, batch: B, declare, dropoutMask };
    const { loss, frozen } =
      diffusion.kind === "edm" ? edmLossGraph(lossCtx, diffusion) : admLossGraph(lossCtx, diffusion);
    const wrt = trainable.map((p) => stateNames.w(p.name));
    const backward = appendBackward(b, loss, wrt, frozen);
    const { grads } = backward;
    differentiated = backward.differentiated;
    gradOf = (p: ParamDef) => grads.get(stateNames.w(p.name)) ?? "";
    emit(loss, "loss", []);
    if (part === "gradients" || o.exposeGradients)
      for (const p of trainable) emit(gradOf(p), gradOutput(p.name), p.shape);
  } else {
    const inputsOf = new Map(trainable.map((p) => [p.name, declare(gradOutput(p.name), p.shape)]));
    gradOf = (p: ParamDef) => inputsOf.get(p.name) ?? "";
  }
  if (optimize) appendUpdate(b, trainable, gradOf, o, emit);

  const rendered = renderGraph(b, TRAIN_STEP_OPSET);
  const model: ModelProto = {
    irVersion: irVersionFor(TRAIN_STEP_OPSET),
    opsetImport: [{ domain: "", version: TRAIN_STEP_OPSET }],
    producerName: "diffit",
    graph: {
      name: `${graph.name}-train-${part}`,
      node: rendered.nodes,
      input: inputs,
      output: outputs,
      initializer: rendered.initializers.map((i) => tensorProto(i)),
    },
  };
  return {
    bytes: onnx.ModelProto.encode(model).finish(),
    trainable,
    fixed,
    imageDims: image,
    conditional,
    nodeCount: rendered.nodes.length,
    dropouts,
    tensors: b,
    differentiated,
  };
}

/** Clipping, Adam/AdamW and the EMA on gradients `gradOf`, emitting grad_norm and next:<state>. */
function appendUpdate(
  b: TensorGraph,
  trainable: readonly ParamDef[],
  gradOf: (p: ParamDef) => string,
  o: TrainStepOptions,
  emit: (value: string, name: string, dims: readonly number[]) => void,
): void {
  // Global-norm clipping as clipByGlobalNorm: scale by clip/(‖g‖ + 1e-6) only when ‖g‖ > clip.
  const squares = trainable.map((p) =>
    b.op("ReduceSumSquare", [gradOf(p)], `${p.name}/g_sq`, { keepdims: 0 }),
  );
  const norm = b.op("Sqrt", [b.op("Sum", squares, "grad_sq_total")], "grad_norm_value");
  let scale: string | undefined;
  if (o.gradClip !== null) {
    const clip = b.scalar(o.gradClip);
    scale = b.op(
      "Where",
      [
        b.op("Greater", [norm, clip], "clipping"),
        b.op("Div", [clip, b.op("Add", [norm, b.scalar(1e-6)], "norm_eps")], "clip_scale"),
        b.scalar(1),
      ],
      "grad_scale",
    );
  }

  emit(norm, "grad_norm", []);

  // Adam / AdamW exactly as runtime/training/adam.ts, then the EMA as runtime/training/ema.ts.
  const [b1, b2] = o.betas;
  const wd = o.weightDecay;
  for (const p of trainable) {
    const h = p.name;
    const w = stateNames.w(h);
    let g = scale ? b.op("Mul", [gradOf(p), scale], `${h}/g_clipped`) : gradOf(p);
    if (o.optimizer === "adam" && wd > 0)
      g = b.op("Add", [g, b.op("Mul", [w, b.scalar(wd)], `${h}/l2`)], `${h}/g_l2`);
    const m = b.op(
      "Add",
      [
        b.op("Mul", [stateNames.m(h), b.scalar(b1)], `${h}/m_decay`),
        b.op("Mul", [g, b.scalar(1 - b1)], `${h}/m_new`),
      ],
      `${h}/m`,
    );
    const v = b.op(
      "Add",
      [
        b.op("Mul", [stateNames.v(h), b.scalar(b2)], `${h}/v_decay`),
        b.op("Mul", [b.op("Mul", [g, g], `${h}/g_sq_el`), b.scalar(1 - b2)], `${h}/v_new`),
      ],
      `${h}/v`,
    );
    let update = b.op(
      "Div",
      [
        b.op("Div", [m, "bc1"], `${h}/m_hat`),
        b.op(
          "Add",
          [b.op("Sqrt", [b.op("Div", [v, "bc2"], `${h}/v_hat`)], `${h}/v_root`), b.scalar(o.eps)],
          `${h}/denom`,
        ),
      ],
      `${h}/update`,
    );
    if (o.optimizer === "adamw" && wd > 0)
      update = b.op("Add", [update, b.op("Mul", [w, b.scalar(wd)], `${h}/decay`)], `${h}/update_wd`);
    const wNext = b.op("Sub", [w, b.op("Mul", [update, "lr"], `${h}/step`)], `${h}/w`);
    const d0 = o.emaDecay;
    const eNext = b.op(
      "Add",
      [
        b.op("Mul", [stateNames.ema(h), b.scalar(d0)], `${h}/ema_decay`),
        b.op("Mul", [wNext, b.scalar(1 - d0)], `${h}/ema_new`),
      ],
      `${h}/ema`,
    );
    emit(wNext, nextOf(w), p.shape);
    emit(m, nextOf(stateNames.m(h)), p.shape);
    emit(v, nextOf(stateNames.v(h)), p.shape);
    emit(eNext, nextOf(stateNames.ema(h)), p.shape);
  }
}
