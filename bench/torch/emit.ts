// The IR as a PyTorch module: a reference implementation of the same network, for the bench's
// PyTorch baseline (bench/torch/step.py runs it). It is a measuring instrument, not a target: the
// op families' PyTorch emitters (src/compiler/ops/*/torch.ts) mirror their ONNX lowerings op for
// op; this file strings them into one module and lists the parameters PyTorch stores transposed.
import type { Graph, Node, NodeOf, OpKind } from "../../src/compiler/ir/types.ts";
import { paramLayout } from "../../src/compiler/ops/index.ts";
import { layoutRule } from "../../src/compiler/ops/param-layout.ts";
import { torchEmitter } from "../../src/compiler/ops/torch.ts";
import type { TorchEmitContext, TorchValue, ValueLayout } from "../../src/compiler/ops/torch-emitter.ts";

export interface TorchModule {
  source: string;
  /**
   * The IR → PyTorch axis order (step.py permutes by it) of each parameter PyTorch stores
   * transposed, from its layout kind; the rest keep the IR's layout.
   */
  layouts: Record<string, readonly number[]>;
}

/** The forward() being written: its lines, the nodes' values and module-level definitions. */
class ModuleWriter {
  readonly lines: string[] = [];
  readonly definitions = new Map<string, string>();
  private readonly values: TorchValue[] = [];
  private readonly converted = new Set<string>();

  line = (text: string) => this.lines.push(`        ${text}`);

  value(id: number): TorchValue {
    const v = this.values[id];
    if (!v) throw new Error(`node ${id} read before it was emitted`);
    return v;
  }

  /** Node `id`'s value in `target` (permuted once; flat values pass through). */
  as(id: number, target: ValueLayout): string {
    const v = this.value(id);
    if (v.layout === target || v.layout === "flat" || target === "flat") return v.name;
    const key = `${v.name}_${target.toLowerCase()}`;
    if (!this.converted.has(key)) {
      this.line(`${key} = ${v.name}.permute(${target === "NCHW" ? "0, 3, 1, 2" : "0, 2, 3, 1"})`);
      this.converted.add(key);
    }
    return key;
  }

  emit(node: Node): void {
    const out = `v${node.id}`;
    const id = (i: number) => node.inputs[i] ?? -1;
    const param = (role: string) => {
      const name = node.params[role];
      if (!name) throw new Error(`${node.name} has no parameter ${role}`);
      return `p[${JSON.stringify(name)}]`;
    };
    const ctx: TorchEmitContext = {
      out,
      line: this.line,
      input: (i) => this.value(id(i)),
      as: (i, layout) => this.as(id(i), layout),
      param,
      optional: (role) => (node.params[role] ? param(role) : "None"),
      define: (key, text) => {
        if (!this.definitions.has(key)) this.definitions.set(key, text.trim());
      },
    };
    this.values[node.id] = { name: out, layout: emitNode(node, ctx) };
  }
}

function emitNode<K extends OpKind>(node: NodeOf<K>, ctx: TorchEmitContext): ValueLayout {
  return torchEmitter(node.op)(node, ctx);
}

function transposedLayouts(graph: Graph): Record<string, readonly number[]> {
  const layouts: Record<string, readonly number[]> = {};
  for (const node of graph.nodes) {
    for (const [role, name] of Object.entries(node.params)) {
      const perm = layoutRule(paramLayout(node, role)).torch;
      if (perm) layouts[name] = perm;
    }
  }
  return layouts;
}

export function emitTorchModule(graph: Graph): TorchModule {
  const w = new ModuleWriter();
  for (const node of graph.nodes) w.emit(node);
  const result = w.as(graph.outputs.out ?? -1, "NCHW");
  const source = [
    `# Emitted by bench/torch/emit.ts from the IR of ${graph.name}; do not edit.`,
    "import torch",
    "import torch.nn.functional as F",
    ...[...w.definitions.values()].flatMap((text) => ["", "", text]),
    "",
    "",
    "class Net(torch.nn.Module):",
    "    def __init__(self, params):",
    "        super().__init__()",
    "        self.params = params",
    "",
    `    def forward(self, x, t, y=None):`,
    "        p = self.params",
    ...w.lines,
    `        return ${result}.contiguous()`,
    "",
  ].join("\n");
  return { source, layouts: transposedLayouts(graph) };
}
