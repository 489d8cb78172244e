// The IR executor on tfjs: one tf.Variable per IR parameter, and a forward pass that runs the
// graph's nodes in order through the lowering table. The architecture comes only from the IR.
import * as tf from "@tensorflow/tfjs";
import type { Graph, ParamDef } from "../../compiler/ir/types.ts";
import { type LowerContext, lowerNode } from "../../compiler/ops/tfjs.ts";
import { initialValues } from "../init.ts";

export interface ModelInputs {
  /** Data, channels-last [N, H, W, C]. */
  x: tf.Tensor;
  /** Noise conditioning [N]: c_noise for EDM, the timestep for DDPM. */
  t: tf.Tensor;
  /** Class labels [N] int32, for conditional models (the null class is `classes`). */
  y?: tf.Tensor;
}

export interface VariableSpec {
  name: string;
  shape: number[];
  trainable: boolean;
}

/** The variables a model will hold, without allocating any. */
export function variablePlan(graph: Graph): VariableSpec[] {
  return graph.params.map((p) => ({ name: p.name, shape: [...p.shape], trainable: p.trainable }));
}

export type Weights = Map<string, Float32Array>;

export class TfjsModel {
  readonly variables = new Map<string, tf.Variable>();
  private readonly byNode = new Map<number, Map<string, tf.Variable>>();

  private constructor(
    readonly graph: Graph,
    values: (p: ParamDef) => Float32Array,
  ) {
    for (const p of graph.params) {
      const v = tf.tidy(() => tf.variable(tf.tensor(values(p), [...p.shape], "float32"), p.trainable));
      this.variables.set(p.name, v);
      const own = this.byNode.get(p.node) ?? new Map<string, tf.Variable>();
      own.set(p.name, v);
      this.byNode.set(p.node, own);
    }
  }

  /** A model with the IR's seeded initialisation. */
  static create(graph: Graph, seed: number): TfjsModel {
    return new TfjsModel(graph, (p) => initialValues(p, seed));
  }

  /** A model with the given weights; every parameter must be present with its exact size. */
  static fromWeights(graph: Graph, weights: Weights): TfjsModel {
    return new TfjsModel(graph, (p) => {
      const w = weights.get(p.name);
      if (!w) throw new Error(`no weights for ${p.name}`);
      return w;
    });
  }

  get trainableVariables(): tf.Variable[] {
    return [...this.variables.values()].filter((v) => v.trainable);
  }

  /**
   * Runs the graph. Call inside tf.tidy (or tf.variableGrads). With `release` (inference only,
   * never under a gradient tape) each op runs in its own tidy and every intermediate is disposed
   * after its last use, so memory stays at the live set instead of the whole graph.
   */
  forward(inputs: ModelInputs, ctx: Partial<LowerContext> & { release?: boolean } = {}): tf.Tensor {
    const context: LowerContext = { training: ctx.training ?? false, dropoutSeed: ctx.dropoutSeed ?? 0 };
    const release = ctx.release ?? false;
    const values: tf.Tensor[] = [];
    const lastUse = release ? this.lastUses() : [];
    for (const node of this.graph.nodes) {
      if (node.op === "input") {
        const bound = inputs[node.attrs.role];
        if (!bound) throw new Error(`input ${node.attrs.role} is required by ${this.graph.name}`);
        values[node.id] = bound;
        continue;
      }
      const own = this.byNode.get(node.id);
      const p = (role: string) => {
        const name = node.params[role];
        const v = name ? own?.get(name) : undefined;
        if (!v) throw new Error(`${node.name} has no parameter ${role}`);
        return v;
      };
      const ins = node.inputs.map((id) => {
        const v = values[id];
        if (!v) throw new Error(`${node.name} reads node ${id} before it ran`);
        return v;
      });
      if (!release) {
        values[node.id] = lowerNode(node, ins, p, context);
        continue;
      }
      const out = tf.tidy(() => lowerNode(node, ins, p, context));
      values[node.id] = out;
      for (const id of new Set(node.inputs)) {
        const v = values[id];
        // A pass-through op (dropout at inference) returns its input: that tensor lives on.
        if (lastUse[id] === node.id && this.graph.nodes[id]?.op !== "input" && v && v !== out) v.dispose();
      }
    }
    const out = values[this.graph.outputs.out ?? -1];
    if (!out) throw new Error("the graph has no output");
    return out;
  }

  /** For each node, the id of the last node that reads it (the output is read "after" the end). */
  private lastUses(): number[] {
    const last: number[] = [];
    for (const n of this.graph.nodes) for (const id of n.inputs) last[id] = n.id;
    const out = this.graph.outputs.out;
    if (out !== undefined) last[out] = Number.POSITIVE_INFINITY;
    return last;
  }

  /** Current weights as plain arrays (read outside any tidy: dataSync inside one is slow on wasm). */
  weights(): Weights {
    const out: Weights = new Map();
    for (const [name, v] of this.variables) out.set(name, v.dataSync() as Float32Array);
    return out;
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
  }
}
