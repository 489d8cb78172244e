// What a diffusion loss needs to build its part of the training graph: the builder, the
// parameter-input lowering context, the network, the batch, and a way to add graph inputs.
import type { Graph } from "../ir/types.ts";
import type { TensorGraph } from "../tensor/graph.ts";
import type { Dims } from "../tensor/ops.ts";
import type { DropoutMask } from "./forward.ts";
import type { ParamInputContext } from "./param-inputs.ts";

export interface LossContext {
  b: TensorGraph;
  ctx: ParamInputContext;
  graph: Graph;
  batch: number;
  /** Adds a graph input (float32 unless `type` says otherwise) and returns its name. */
  declare(name: string, dims: Dims, type?: number): string;
  dropoutMask: DropoutMask;
}

export interface LossGraph {
  /** The scalar loss value. */
  loss: string;
  /** Values the gradient must not flow through (stop-gradient). */
  frozen: ReadonlySet<string>;
}
