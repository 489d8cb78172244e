// The IR as a PyTorch module: a reference implementation of the same network, for the bench's
// PyTorch baseline (bench/torch/step.py runs it). It is a measuring instrument, not a target:
// it mirrors the ONNX lowering op for op (src/compiler/ops/*/tensor.ts), keeps each value
// in the layout its producer gave it (convolutions NCHW, transformer blocks channels-last, as
// PyTorch DiffiT code is written) and calls the PyTorch functions a PyTorch user would
// (F.conv2d, F.linear, F.layer_norm, F.group_norm), so the timing is PyTorch's own.
// TMSA lives in bench/torch/ops.py.
import type { Graph, Node } from "../../src/compiler/ir/types.ts";
import { relativePositionIndex } from "../../src/compiler/ops/attention/def.ts";
import { paramLayout } from "../../src/compiler/ops/index.ts";
import { layoutRule } from "../../src/compiler/ops/param-layout.ts";

type Layout = "NCHW" | "NHWC" | "flat";

export interface TorchModule {
  source: string;
  /**
   * The IR → PyTorch axis order (step.py permutes by it) of each parameter PyTorch stores
   * transposed, from its layout kind; the rest keep the IR's layout.
   */
  layouts: Record<string, readonly number[]>;
}

const py = (n: number) => (Number.isInteger(n) ? String(n) : n.toPrecision(9));

export function emitTorchModule(graph: Graph): TorchModule {
  const layouts: Record<string, readonly number[]> = {};
  for (const node of graph.nodes) {
    for (const [role, name] of Object.entries(node.params)) {
      const perm = layoutRule(paramLayout(node, role)).torch;
      if (perm) layouts[name] = perm;
    }
  }
  const lines: string[] = [];
  const vals: { name: string; layout: Layout }[] = [];
  const converted = new Set<string>();
  const emit = (line: string) => lines.push(`        ${line}`);
  const as = (id: number, target: Layout): string => {
    const v = vals[id];
    if (!v) throw new Error(`node ${id} read before it was emitted`);
    if (v.layout === target || v.layout === "flat" || target === "flat") return v.name;
    const key = `${v.name}_${target.toLowerCase()}`;
    if (!converted.has(key)) {
      emit(`${key} = ${v.name}.permute(${target === "NCHW" ? "0, 3, 1, 2" : "0, 2, 3, 1"})`);
      converted.add(key);
    }
    return key;
  };
  const p = (node: Node, role: string) => {
    const name = node.params[role];
    if (!name) throw new Error(`${node.name} has no parameter ${role}`);
    return `p[${JSON.stringify(name)}]`;
  };
  const opt = (node: Node, role: string) => (node.params[role] ? p(node, role) : "None");
  const channelsLast = (id: number) =>
    vals[id]?.layout === "flat" ? (vals[id]?.name ?? "") : as(id, "NHWC");

  for (const node of graph.nodes) {
    const out = `v${node.id}`;
    const ins = node.inputs;
    const i0 = ins[0] ?? -1;
    let layout: Layout = "NHWC";
    switch (node.op) {
      case "input":
        emit(`${out} = ${node.attrs.role}`);
        layout = node.attrs.role === "x" ? "NCHW" : "flat";
        break;
      case "conv2d": {
        const a = node.attrs;
        emit(
          `${out} = F.conv2d(${as(i0, "NCHW")}, ${p(node, "weight")}, ${opt(node, "bias")}, stride=${a.stride}, padding=${a.padding})`,
        );
        layout = "NCHW";
        break;
      }
      case "conv-transpose2d": {
        const a = node.attrs;
        emit(
          `${out} = F.conv_transpose2d(${as(i0, "NCHW")}, ${p(node, "weight")}, ${opt(node, "bias")}, stride=${a.stride}, padding=${a.padding}, output_padding=${a.outputPadding})`,
        );
        layout = "NCHW";
        break;
      }
      case "avg-pool":
        emit(`${out} = F.avg_pool2d(${as(i0, "NCHW")}, ${node.attrs.size})`);
        layout = "NCHW";
        break;
      case "resize":
        emit(
          node.attrs.mode === "nearest"
            ? `${out} = F.interpolate(${as(i0, "NCHW")}, scale_factor=${node.attrs.scale}, mode="nearest")`
            : `${out} = F.interpolate(${as(i0, "NCHW")}, scale_factor=${node.attrs.scale}, mode="bilinear", align_corners=False)`,
        );
        layout = "NCHW";
        break;
      case "group-norm":
        emit(
          `${out} = F.group_norm(${as(i0, "NCHW")}, ${node.attrs.groups}, ${p(node, "weight")}, ${p(node, "bias")}, eps=${py(node.attrs.eps)})`,
        );
        layout = "NCHW";
        break;
      case "layer-norm":
        emit(
          `${out} = F.layer_norm(${channelsLast(i0)}, (${node.attrs.width},), ${opt(node, "weight")}, ${opt(node, "bias")}, eps=${py(node.attrs.eps)})`,
        );
        layout = vals[i0]?.layout === "flat" ? "flat" : "NHWC";
        break;
      case "linear":
        emit(`${out} = F.linear(${channelsLast(i0)}, ${p(node, "weight")}, ${opt(node, "bias")})`);
        layout = vals[i0]?.layout === "flat" ? "flat" : "NHWC";
        break;
      case "gelu-tanh":
        emit(`${out} = F.gelu(${vals[i0]?.name}, approximate="tanh")`);
        layout = vals[i0]?.layout ?? "flat";
        break;
      case "silu":
        emit(`${out} = F.silu(${vals[i0]?.name})`);
        layout = vals[i0]?.layout ?? "flat";
        break;
      case "add":
      case "mul": {
        // As the ONNX lowering: rank-4 operands take the layout of the first rank-4 one.
        const target = ins.map((id) => vals[id]?.layout).find((l) => l !== "flat") ?? "flat";
        const names = ins.map((id) => as(id, target));
        emit(`${out} = ${names.join(node.op === "add" ? " + " : " * ")}`);
        layout = target;
        break;
      }
      case "modulate": {
        const [x = -1, shift = -1, scale = -1] = ins;
        const target = [x, shift, scale].map((id) => vals[id]?.layout).find((l) => l !== "flat") ?? "flat";
        emit(`${out} = ${as(x, target)} * (1 + ${as(scale, target)}) + ${as(shift, target)}`);
        layout = target;
        break;
      }
      case "dropout":
        emit(`${out} = F.dropout(${vals[i0]?.name}, ${py(node.attrs.rate)}, self.training)`);
        layout = vals[i0]?.layout ?? "flat";
        break;
      case "concat": {
        const rank4 = ins.every((id) => vals[id]?.layout !== "flat");
        const target: Layout = vals[i0]?.layout === "NCHW" ? "NCHW" : "NHWC";
        const names = ins.map((id) => (rank4 ? as(id, target) : (vals[id]?.name ?? "")));
        const last = node.attrs.axis === -1 || node.attrs.axis === 3;
        const axis = rank4 && target === "NCHW" && last ? 1 : node.attrs.axis;
        emit(`${out} = torch.cat([${names.join(", ")}], ${axis})`);
        layout = rank4 ? target : "flat";
        break;
      }
      case "reshape": {
        const shape = node.attrs.shape.map((d) => (d === "N" ? -1 : d));
        emit(`${out} = ${channelsLast(i0)}.reshape(${shape.join(", ")})`);
        layout = shape.length === 4 ? "NHWC" : "flat";
        break;
      }
      case "slice": {
        const a = node.attrs;
        emit(`${out} = ${channelsLast(i0)}.narrow(${a.axis}, ${a.start}, ${a.size})`);
        layout = vals[i0]?.layout === "flat" ? "flat" : "NHWC";
        break;
      }
      case "unpatchify": {
        const [, h, w] = node.out.shape as [unknown, number, number];
        const { patch, channels } = node.attrs;
        emit(
          `${out} = ${as(i0, "NHWC")}.reshape(-1, ${h / patch}, ${w / patch}, ${patch}, ${patch}, ${channels}).permute(0, 1, 3, 2, 4, 5).reshape(-1, ${h}, ${w}, ${channels})`,
        );
        break;
      }
      case "add-position": {
        const { grid, width } = node.attrs;
        emit(`${out} = ${as(i0, "NHWC")} + ${p(node, "table")}.reshape(${grid}, ${grid}, ${width})`);
        break;
      }
      case "timestep-embedding": {
        const a = node.attrs;
        const half = a.dim / 2;
        const freqs =
          a.kind === "fourier"
            ? `${p(node, "freqs")} * ${py(2 * Math.PI)}`
            : `torch.exp(torch.arange(${half}, dtype=torch.float32) * ${py(-Math.log(a.maxPeriod) / half)})`;
        emit(`${out}_args = ${vals[i0]?.name}[:, None] * ${freqs}`);
        const parts = a.layout === "cos-sin" ? ["cos", "sin"] : ["sin", "cos"];
        emit(`${out} = torch.cat([${parts.map((f) => `torch.${f}(${out}_args)`).join(", ")}], 1)`);
        layout = "flat";
        break;
      }
      case "label-embedding":
        emit(`${out} = F.embedding(${vals[i0]?.name}, ${p(node, "embedding_table.weight")})`);
        layout = "flat";
        break;
      case "window-attention": {
        const a = node.attrs;
        const temb = ins[1] === undefined ? "None" : (vals[ins[1]]?.name ?? "None");
        const roles = Object.keys(node.params);
        const params = `{${roles.map((r) => `${JSON.stringify(r)}: ${p(node, r)}`).join(", ")}}`;
        emit(
          `${out} = window_attention(${as(i0, "NHWC")}, ${temb}, ${params}, heads=${a.heads}, window=${a.window}, mode=${JSON.stringify(a.mode)}, index=INDEX[${a.window}])`,
        );
        break;
      }
    }
    vals[node.id] = { name: out, layout };
  }
  const result = as(graph.outputs.out ?? -1, "NCHW");
  const windows = [
    ...new Set(graph.nodes.flatMap((n) => (n.op === "window-attention" ? [n.attrs.window] : []))),
  ];
  const source = [
    `# Emitted by bench/torch/emit.ts from the IR of ${graph.name}; do not edit.`,
    "import torch",
    "import torch.nn.functional as F",
    "from ops import window_attention",
    "",
    "# Relative position index per window size (src/compiler/ops/attention.ts).",
    "INDEX = {",
    ...windows.map((w) => `    ${w}: torch.tensor([${Array.from(relativePositionIndex(w)).join(", ")}]),`),
    "}",
    "",
    "",
    "class Net(torch.nn.Module):",
    "    def __init__(self, params):",
    "        super().__init__()",
    "        self.params = params",
    "",
    `    def forward(self, x, t, y=None):`,
    "        p = self.params",
    ...lines,
    `        return ${result}.contiguous()`,
    "",
  ].join("\n");
  return { source, layouts };
}
