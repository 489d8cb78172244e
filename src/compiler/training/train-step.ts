// One training step as one ONNX graph: the diffusion loss (EDM or ADM), the network forward, its
// reverse-mode gradient (src/compiler/autodiff), global-norm clipping, Adam/AdamW and the EMA.
// State goes in and comes back out under paired names, so the engine feeds each step's outputs
// to the next step. The optimizer works on flat state: every trainable parameter end to end in
// StateLayout order, so Adam and the EMA are a dozen ops on one vector rather than a dozen per
// parameter (on tiny-fmnist ~2,700 nodes of a few microseconds' work each). Clipping, Adam and
// the EMA are the formulas of src/compiler/formulas/{adam,ema}.ts, the ones the tfjs trainer runs:
//   inputs  x, noise [B, C, H, W]; y [B] int32; lr, bc1 = 1 − β1^t, bc2 = 1 − β2^t; the noise
//           level inputs of the loss (EDM: sigma [B]; ADM: see adm-loss.ts);
//           w:<p> for every parameter, in its stored layout (param-inputs.ts), which for a
//           trainable one is a view of the flat w; the flat w, m, v, ema [P]
//   outputs loss, grad_norm (before clipping), next:w, next:m, next:v, next:ema [P],
//           and with exposeGradients grad:<p> (the unclipped gradient, in the IR layout).
// For micro-batches and data-parallel replicas the step is emitted in two parts
// (TrainStepOptions.part): "gradients" (one slice's loss and flat grad [P]) and "update" (the
// rest, from the averaged flat grad input).
import { appendBackward } from "../autodiff/reverse.ts";
import { DataType, irVersionFor, type ModelProto, onnx, type ValueInfoProto } from "../emit/onnx/proto.ts";
import { renderGraph, tensorProto } from "../emit/onnx/render.ts";
import { adamUpdate, clipScale } from "../formulas/adam.ts";
import { emaUpdate } from "../formulas/ema.ts";
import { graphOps } from "../formulas/scalar-ops.ts";
import type { Graph, NodeOf, ParamDef } from "../ir/types.ts";
import type { DiffusionConfig } from "../schema/sections.ts";
import { TensorGraph } from "../tensor/graph.ts";
import { inversePerm } from "../tensor/lower-context.ts";
import type { TensorOpKind } from "../tensor/ops.ts";
import { admLossGraph } from "./adm-loss.ts";
import { edmLossGraph } from "./edm-loss.ts";
import type { LossContext } from "./loss-context.ts";
import { ParamInputContext, paramInput, type StoredParam } from "./param-inputs.ts";

// Opset 20 has Gelu(approximate=tanh) as one op, and ReduceMean with axes as an input.
export const TRAIN_STEP_OPSET = 20;

/** The flat state vectors, inputs and (as next:<name>) outputs of the step. */
export const FLAT_STATE = ["w", "m", "v", "ema"] as const;
export type FlatState = (typeof FLAT_STATE)[number];
/** The flat gradient: output of the "gradients" part, input of the "update" part. */
export const FLAT_GRAD = "grad";
export const nextOf = (input: string) => `next:${input}`;
/** A parameter's own gradient output (exposeGradients), in the IR layout. */
export const gradOutput = (p: string) => `grad:${p}`;
export { paramInput };

/** Where each parameter lives in the state: trainable ones at `offset` of the flat vectors. */
export interface StateLayout {
  trainable: (StoredParam & { offset: number; size: number })[];
  fixed: StoredParam[];
  /** Length of the flat vectors. */
  size: number;
}

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
  /** The parameters' stored layouts (parts with a forward pass; the update part sees flat state only). */
  layout?: StateLayout;
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
  // Parameter inputs are declared by the lowering, in the layout of their first use.
  const ctx = new ParamInputContext(b, TRAIN_STEP_OPSET, shapes, (name, dims) => declare(name, dims));
  const part = o.part ?? "step";
  const forward = part !== "update";
  const optimize = part !== "gradients";
  const size = trainable.reduce((n, p) => n + p.shape.reduce((a, c) => a * c, 1), 0);
  if (forward) {
    declare("x", image);
    declare("noise", image);
    if (conditional) declare("y", [B], DataType.INT32);
  }
  if (optimize) {
    for (const s of ["lr", "bc1", "bc2"]) declare(s, []);
    for (const s of FLAT_STATE) declare(s, [size]);
  }

  const outputs: ValueInfoProto[] = [];
  const emit = (value: string, name: string, dims: readonly number[]) => {
    b.alias(value, name);
    outputs.push(valueInfo(name, DataType.FLOAT, dims));
  };
  const dropouts: DropoutInput[] = [];
  let flatGrad: string;
  let layout: StateLayout | undefined;
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
    layout = stateLayout(
      trainable.map((p) => ctx.storedParam(p.name)),
      fixed.map((p) => ctx.storedParam(p.name)),
    );
    const backward = appendBackward(
      b,
      loss,
      trainable.map((p) => paramInput(p.name)),
      frozen,
    );
    const { grads } = backward;
    differentiated = backward.differentiated;
    const gradOf = (p: StoredParam) => grads.get(paramInput(p.name)) ?? "";
    emit(loss, "loss", []);
    if (o.exposeGradients)
      for (const p of layout.trainable) {
        const g = gradOf(p);
        emit(
          p.perm ? b.op("Transpose", [g], `${g}/ir`, { perm: inversePerm(p.perm) }) : g,
          gradOutput(p.name),
          p.shape,
        );
      }
    flatGrad = b.op(
      "Concat",
      layout.trainable.map((p) => b.op("Reshape", [gradOf(p), b.ints([-1])], `${gradOf(p)}/flat`)),
      "grad_flat",
      { axis: 0 },
    );
    if (part === "gradients") emit(flatGrad, FLAT_GRAD, [size]);
  } else {
    flatGrad = declare(FLAT_GRAD, [size]);
  }
  if (optimize) appendUpdate(b, size, flatGrad, o, emit);

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
    ...(layout ? { layout } : {}),
  };
}

function stateLayout(trainable: StoredParam[], fixed: StoredParam[]): StateLayout {
  let offset = 0;
  const placed = trainable.map((p) => {
    const size = p.shape.reduce((a, c) => a * c, 1);
    offset += size;
    return { ...p, offset: offset - size, size };
  });
  return { trainable: placed, fixed, size: offset };
}

/** Clipping, Adam/AdamW and the EMA on the flat gradient, emitting grad_norm and next:<state>. */
function appendUpdate(
  b: TensorGraph,
  size: number,
  grad: string,
  o: TrainStepOptions,
  emit: (value: string, name: string, dims: readonly number[]) => void,
): void {
  const norm = b.op(
    "Sqrt",
    [b.op("ReduceSumSquare", [grad], "grad_sq_total", { keepdims: 0 })],
    "grad_norm_value",
  );
  emit(norm, "grad_norm", []);
  const clip = graphOps(b, "clip");
  const g = o.gradClip === null ? grad : clip.mul(grad, clipScale(clip, norm, o.gradClip));
  const adam = { kind: o.optimizer, betas: o.betas, eps: o.eps, weightDecay: o.weightDecay };
  const next = adamUpdate(graphOps(b, "adam"), adam, { w: "w", m: "m", v: "v" }, g, {
    lr: "lr",
    bc1: "bc1",
    bc2: "bc2",
  });
  const ema = emaUpdate(graphOps(b, "ema"), o.emaDecay, "ema", next.w);
  for (const [name, value] of [
    ["w", next.w],
    ["m", next.m],
    ["v", next.v],
    ["ema", ema],
  ] as const)
    emit(value, nextOf(name), [size]);
}
