// Builds a Graph node by node, inferring each output type from the op registry as it goes,
// so a shape error is caught at the node (and spec field) that causes it.
import type { Diagnostic, SpecPath } from "../diagnostics.ts";
import { error } from "../diagnostics.ts";
import { opDef } from "../ops/index.ts";
import { paramKey } from "../ops/op-def.ts";
import type { Graph, Node, NodeOf, OpAttrs, OpKind, ParamDef, TensorType } from "./types.ts";

export interface Value {
  id: number;
  type: TensorType;
}

export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly params: ParamDef[] = [];
  private readonly names = new Set<string>();
  readonly diagnostics: Diagnostic[] = [];
  private readonly inputs: Record<"x" | "t" | "y", number | undefined> = {
    x: undefined,
    t: undefined,
    y: undefined,
  };
  private readonly outputs: Record<string, number> = {};

  constructor(
    private readonly family: "image" | "latent",
    private readonly modelName: string,
  ) {}

  input(role: "x" | "t" | "y", type: TensorType, at: SpecPath): Value {
    const node: NodeOf<"input"> = {
      id: this.nodes.length,
      op: "input",
      name: role,
      inputs: [],
      attrs: { role },
      params: {},
      out: type,
      at,
    };
    this.nodes.push(node);
    this.inputs[role] = node.id;
    return { id: node.id, type };
  }

  add<K extends OpKind>(
    op: K,
    name: string,
    inputs: readonly Value[],
    attrs: OpAttrs[K],
    at: SpecPath,
  ): Value {
    const def = opDef(op);
    const inferred = def.infer(
      attrs,
      inputs.map((v) => v.type),
    );
    const id = this.nodes.length;
    let out: TensorType;
    if (typeof inferred === "string") {
      this.diagnostics.push(
        error(
          "DF206",
          at,
          `cannot build ${name} (${op}): ${inferred}`,
          "this is a compiler bug if the spec validated",
        ),
      );
      out = inputs[0]?.type ?? { shape: [], dtype: "float32" };
    } else {
      out = inferred;
    }
    const params: Record<string, string> = {};
    for (const p of def.params(attrs)) {
      const full = p.role ? `${name}.${p.role}` : name;
      if (this.names.has(full)) throw new Error(`duplicate parameter name ${full}`);
      this.names.add(full);
      params[paramKey(p)] = full;
      this.params.push({
        name: full,
        shape: p.shape,
        init: p.init,
        trainable: p.trainable ?? true,
        node: id,
      });
    }
    const node = { id, op, name, inputs: inputs.map((v) => v.id), attrs, params, out, at } as NodeOf<K>;
    this.nodes.push(node as Node);
    return { id, type: out };
  }

  output(name: string, v: Value): void {
    this.outputs[name] = v.id;
  }

  /** The finished graph; a node whose shape rule failed means the spec checks missed a case. */
  finish(): Graph {
    if (this.diagnostics.length > 0) {
      throw new Error(`IR construction failed:\n${this.diagnostics.map((d) => d.message).join("\n")}`);
    }
    return {
      family: this.family,
      name: this.modelName,
      nodes: this.nodes,
      params: this.params,
      inputs: { ...this.inputs },
      outputs: { ...this.outputs },
    };
  }
}
