// Model IR op → tensor-tier ops, one decomposition per op kind (`satisfies` makes a missing one a
// type error). The ONNX export renders the result as it is and the training step differentiates
// it (src/compiler/autodiff), so every model op reaches a target, and its gradient, through the
// tensor ops' rules. Standard ONNX ops only; GroupNorm is decomposed (GroupNormalization-18/21 is
// missing or broken in several runtimes, ECOSYSTEM.md §B), GELU-tanh uses Gelu(approximate =
// "tanh") from opset 20.
import type { NodeOf, OpKind } from "../ir/types.ts";
import { biasTableRows, relativePositionIndex } from "../ops/attention/def.ts";
import type { LowerContext, Val } from "./lower-context.ts";
import type { TensorOpAttrs } from "./ops.ts";

type TensorLowering<K extends OpKind> = (node: NodeOf<K>, ins: Val[], ctx: LowerContext) => Val;

const flat = (name: string): Val => ({ name, layout: "flat" });

function first(ins: Val[]): Val {
  const v = ins[0];
  if (!v) throw new Error("missing input");
  return v;
}

/** x·W + b over the last axis (channels-last values). */
function dense(ctx: LowerContext, x: Val, w: string, b: string | undefined, hint: string): Val {
  const layout = x.layout === "flat" ? "flat" : "NHWC";
  const xin = x.layout === "flat" ? x : ctx.as(x, "NHWC");
  const y = ctx.b.op("MatMul", [xin.name, w], hint);
  return { name: b ? ctx.b.op("Add", [y, b], `${hint}/bias`) : y, layout };
}

function geluTanh(ctx: LowerContext, x: string, hint: string): string {
  const b = ctx.b;
  if (ctx.options.opset >= 20) return b.op("Gelu", [x], hint, { approximate: "tanh" });
  const cube = b.op("Mul", [x, b.op("Mul", [x, x], `${hint}/x2`)], `${hint}/x3`);
  const inner = b.op(
    "Mul",
    [
      b.op("Add", [x, b.op("Mul", [cube, b.scalar(0.044715)], `${hint}/c`)], `${hint}/s`),
      b.scalar(Math.sqrt(2 / Math.PI)),
    ],
    `${hint}/u`,
  );
  const t = b.op("Tanh", [inner], `${hint}/tanh`);
  return b.op(
    "Mul",
    [b.op("Mul", [x, b.scalar(0.5)], `${hint}/half`), b.op("Add", [t, b.scalar(1)], `${hint}/1p`)],
    hint,
  );
}

/** Broadcasting binary op: rank-4 operands are brought to the layout of the first rank-4 one. */
function binary(ctx: LowerContext, type: "Add" | "Mul", ins: Val[], hint: string): Val {
  const target = ins.find((v) => v.layout !== "flat")?.layout;
  const names = ins.map((v) => (target && target !== "flat" ? ctx.as(v, target).name : v.name));
  let acc = names[0] ?? "";
  for (const n of names.slice(1)) acc = ctx.b.op(type, [acc, n], hint);
  return { name: acc, layout: target ?? "flat" };
}

/**
 * TMSA on an NHWC grid [P Eq 3-6]; see ops/attention.ts and runtime/tfjs/window-attention.ts.
 * Tokens are window-partitioned before the projection (a per-token map commutes with it, and
 * C channels move instead of 3C); attention runs heads first (see below).
 */
function windowAttention(node: NodeOf<"window-attention">, ins: Val[], ctx: LowerContext): Val {
  const a = node.attrs;
  const b = ctx.b;
  const h = node.name;
  const x = ctx.as(first(ins), "NHWC");
  const temb = ins[1];
  const [, H, W] = node.out.shape as [unknown, number, number, number];
  const c = a.width;
  const heads = a.heads;
  const d = c / heads;
  const w = a.window;
  const T = w * w;
  const nh = H / w;
  const nw = W / w;
  // Windows [N, nh, w, nw, w, C] → [N, nh·nw·T, C].
  const grid = b.op("Reshape", [x.name, b.ints([-1, nh, w, nw, w, c])], `${h}/grid`);
  const win = b.op("Transpose", [grid], `${h}/windows`, { perm: [0, 1, 3, 2, 4, 5] });
  const tokens = b.op("Reshape", [win, b.ints([-1, nh * nw * T, c])], `${h}/tokens`);
  // Eq 3-5: the fused spatial projection plus the temporal one, per sample.
  let qkv = dense(
    ctx,
    { name: tokens, layout: "flat" },
    ctx.weight(node, "qkv.weight"),
    a.qkvBias ? ctx.weight(node, "qkv.bias") : undefined,
    `${h}/qkv`,
  ).name; // [N, nh·nw·T, 3C]
  if (a.mode === "tmsa") {
    if (!temb) throw new Error("TMSA needs the time token");
    const t = dense(
      ctx,
      temb,
      ctx.weight(node, "qkv_temb.weight"),
      a.qkvBias ? ctx.weight(node, "qkv_temb.bias") : undefined,
      `${h}/qkv_temb`,
    );
    qkv = b.op("Add", [qkv, b.op("Unsqueeze", [t.name, b.ints([1])], `${h}/temb3`)], `${h}/qkv_t`);
  }
  // Heads first: [N·L, 3·heads, d] → [3·heads, N·L, d], one transpose that moves whole d-runs,
  // then q, k, v split off along its first axis as [heads, N·nW, T, d]. No operand of the
  // attention products is then a Transpose output, so onnxruntime folds their transposes (kᵀ
  // here, and those the backward pass adds) into the MatMuls; with the batch axis first, k's
  // [0, 2, 3, 1] transpose and the backward pass's ones cost 6–8 % of a step (profiled).
  const byHead = b.op(
    "Transpose",
    [b.op("Reshape", [qkv, b.ints([-1, 3 * heads, d])], `${h}/qkv_heads`)],
    `${h}/heads`,
    { perm: [1, 0, 2] },
  );
  const [q0, k0, v0] = b.opN("Split", [byHead, b.ints([heads, heads, heads])], `${h}/qkv_split`, 3, {
    axis: 0,
  });
  const toHeads = (t: string, role: string) =>
    b.op("Reshape", [t, b.ints([heads, -1, T, d])], `${h}/${role}`);
  const [q, k, v] = [toHeads(q0 ?? "", "q"), toHeads(k0 ?? "", "k"), toHeads(v0 ?? "", "v")];
  // Eq 6: softmax(q·kᵀ/√d + B)·v, q scaled first as [OFF] does.
  const qs = b.op("Mul", [q, b.scalar(d ** -0.5)], `${h}/q_scaled`);
  const kt = b.op("Transpose", [k], `${h}/k_t`, { perm: [0, 1, 3, 2] });
  let scores = b.op("MatMul", [qs, kt], `${h}/scores`); // [heads, N·nW, T, T]
  const idx = b.constant(Array.from(relativePositionIndex(w)), [T * T], "int64");
  if (a.relativePositionBias) {
    const picked = b.op("Gather", [ctx.weight(node, "relative_position_bias_table"), idx], `${h}/rpb`, {
      axis: 0,
    });
    const bias = b.op(
      "Transpose",
      [b.op("Reshape", [picked, b.ints([T, T, heads, 1])], `${h}/rpb4`)],
      `${h}/rpb_h1TT`,
      { perm: [2, 3, 0, 1] },
    );
    scores = b.op("Add", [scores, bias], `${h}/scores_b`);
  }
  if (a.mode === "time-in-bias") {
    if (!temb) throw new Error("time-in-bias needs the time token");
    const rows = biasTableRows(w);
    const t = dense(
      ctx,
      temb,
      ctx.weight(node, "temb_bias.weight"),
      ctx.weight(node, "temb_bias.bias"),
      `${h}/temb_bias`,
    );
    const table = b.op("Reshape", [t.name, b.ints([-1, rows, heads])], `${h}/tb_table`);
    const picked = b.op("Gather", [table, idx], `${h}/tb_pick`, { axis: 1 }); // [N, T·T, heads]
    // Per sample and head, broadcast over the sample's windows: [heads, N, 1, T, T].
    const bias = b.op(
      "Transpose",
      [b.op("Reshape", [picked, b.ints([-1, 1, T, T, heads])], `${h}/tb5`)],
      `${h}/tb_hN1TT`,
      { perm: [4, 0, 1, 2, 3] },
    );
    const s5 = b.op("Reshape", [scores, b.ints([heads, -1, nh * nw, T, T])], `${h}/scores5`);
    scores = b.op(
      "Reshape",
      [b.op("Add", [s5, bias], `${h}/scores5_b`), b.ints([heads, -1, T, T])],
      `${h}/scores_tb`,
    );
  }
  const attn = b.op("Softmax", [scores], `${h}/softmax`, { axis: -1 });
  const out = b.op("MatMul", [attn, v], `${h}/attn_v`); // [heads, N·nW, T, d]
  // Back to tokens: [heads, N·L, d] → [N·L, heads, d], whole d-runs again.
  const mergedT = b.op(
    "Transpose",
    [b.op("Reshape", [out, b.ints([heads, -1, d])], `${h}/out3`)],
    `${h}/merge_t`,
    { perm: [1, 0, 2] },
  );
  const merged = b.op("Reshape", [mergedT, b.ints([-1, nh, nw, w, w, c])], `${h}/merge`);
  const back = b.op("Transpose", [merged], `${h}/unwindow`, { perm: [0, 1, 3, 2, 4, 5] });
  const y = b.op("Reshape", [back, b.ints([-1, H, W, c])], `${h}/grid_out`);
  return dense(
    ctx,
    { name: y, layout: "NHWC" },
    ctx.weight(node, "proj.weight"),
    ctx.weight(node, "proj.bias"),
    `${h}/proj`,
  );
}

export const TENSOR_LOWERINGS = {
  input: () => {
    throw new Error("inputs are bound by the emitter");
  },
  conv2d: (n, ins, ctx) => {
    const a = n.attrs;
    const x = ctx.as(first(ins), "NCHW");
    const inputs = [x.name, ctx.weight(n, "weight", "oihw"), ...(a.bias ? [ctx.weight(n, "bias")] : [])];
    const p = a.padding;
    return {
      name: ctx.b.op("Conv", inputs, n.name, {
        kernel_shape: [a.kernel, a.kernel],
        strides: [a.stride, a.stride],
        pads: [p, p, p, p],
      }),
      layout: "NCHW",
    };
  },
  "conv-transpose2d": (n, ins, ctx) => {
    const a = n.attrs;
    const x = ctx.as(first(ins), "NCHW");
    const p = a.padding;
    const attrs = {
      kernel_shape: [a.kernel, a.kernel],
      strides: [a.stride, a.stride],
      pads: [p, p, p, p],
      output_padding: [a.outputPadding, a.outputPadding],
    };
    return {
      name: ctx.b.op(
        "ConvTranspose",
        [x.name, ctx.weight(n, "weight", "iohw"), ctx.weight(n, "bias")],
        n.name,
        attrs,
      ),
      layout: "NCHW",
    };
  },
  "avg-pool": (n, ins, ctx) => {
    const x = ctx.as(first(ins), "NCHW");
    const s = n.attrs.size;
    return {
      name: ctx.b.op("AveragePool", [x.name], n.name, { kernel_shape: [s, s], strides: [s, s] }),
      layout: "NCHW",
    };
  },
  resize: (n, ins, ctx) => {
    const x = ctx.as(first(ins), "NCHW");
    const s = n.attrs.scale;
    const attrs: TensorOpAttrs["Resize"] =
      n.attrs.mode === "nearest"
        ? { mode: "nearest", coordinate_transformation_mode: "asymmetric", nearest_mode: "floor" }
        : { mode: "linear", coordinate_transformation_mode: "half_pixel" };
    const scales = ctx.b.constant([1, 1, s, s], [4]);
    return { name: ctx.b.op("Resize", [x.name, "", scales], n.name, attrs), layout: "NCHW" };
  },
  "group-norm": (n, ins, ctx) => {
    // Decomposed: statistics per (sample, group) over C/G channels × H × W, then a per-channel affine.
    const b = ctx.b;
    const x = ctx.as(first(ins), "NCHW");
    const [, H, W, C] = n.out.shape as [unknown, number, number, number];
    const g = b.op(
      "Reshape",
      [x.name, b.ints([-1, n.attrs.groups, (C / n.attrs.groups) * H * W])],
      `${n.name}/groups`,
    );
    const mean = ctx.reduceMean(g, [2], `${n.name}/mean`);
    const centred = b.op("Sub", [g, mean], `${n.name}/centred`);
    const variance = ctx.reduceMean(b.op("Mul", [centred, centred], `${n.name}/sq`), [2], `${n.name}/var`);
    const normed = b.op(
      "Div",
      [
        centred,
        b.op("Sqrt", [b.op("Add", [variance, b.scalar(n.attrs.eps)], `${n.name}/var_eps`)], `${n.name}/std`),
      ],
      `${n.name}/normed`,
    );
    const back = b.op("Reshape", [normed, b.ints([-1, C, H, W])], `${n.name}/back`);
    const scaled = b.op("Mul", [back, ctx.weight(n, "weight", "c11")], `${n.name}/scale`);
    return { name: b.op("Add", [scaled, ctx.weight(n, "bias", "c11")], n.name), layout: "NCHW" };
  },
  "layer-norm": (n, ins, ctx) => {
    const x = first(ins);
    const xin = x.layout === "flat" ? x : ctx.as(x, "NHWC");
    const width = n.attrs.width;
    const scale = n.attrs.affine
      ? ctx.weight(n, "weight")
      : ctx.b.constant(new Array(width).fill(1), [width]);
    const inputs = [xin.name, scale, ...(n.attrs.affine ? [ctx.weight(n, "bias")] : [])];
    return {
      name: ctx.b.op("LayerNormalization", inputs, n.name, { axis: -1, epsilon: n.attrs.eps }),
      layout: xin.layout,
    };
  },
  linear: (n, ins, ctx) =>
    dense(ctx, first(ins), ctx.weight(n, "weight"), n.attrs.bias ? ctx.weight(n, "bias") : undefined, n.name),
  "gelu-tanh": (n, ins, ctx) => ({ name: geluTanh(ctx, first(ins).name, n.name), layout: first(ins).layout }),
  silu: (n, ins, ctx) => {
    const x = first(ins);
    return {
      name: ctx.b.op("Mul", [x.name, ctx.b.op("Sigmoid", [x.name], `${n.name}/sigmoid`)], n.name),
      layout: x.layout,
    };
  },
  add: (n, ins, ctx) => binary(ctx, "Add", ins, n.name),
  mul: (n, ins, ctx) => binary(ctx, "Mul", ins, n.name),
  modulate: (n, ins, ctx) => {
    const [x, shift, scale] = ins;
    if (!x || !shift || !scale) throw new Error("modulate needs x, shift and scale");
    const onePlus = {
      name: ctx.b.op("Add", [scale.name, ctx.b.scalar(1)], `${n.name}/1p`),
      layout: scale.layout,
    };
    return binary(ctx, "Add", [binary(ctx, "Mul", [x, onePlus], `${n.name}/scaled`), shift], n.name);
  },
  dropout: (_n, ins) => first(ins), // inference graph
  concat: (n, ins, ctx) => {
    const target = ins[0]?.layout === "NCHW" ? "NCHW" : "NHWC";
    const rank4 = ins.every((v) => v.layout !== "flat");
    const names = ins.map((v) => (rank4 ? ctx.as(v, target).name : v.name));
    // The IR's axis is channels-last; in NCHW the channel axis is 1.
    const axis = rank4 && target === "NCHW" && (n.attrs.axis === -1 || n.attrs.axis === 3) ? 1 : n.attrs.axis;
    return { name: ctx.b.op("Concat", names, n.name, { axis }), layout: rank4 ? target : "flat" };
  },
  reshape: (n, ins, ctx) => {
    const x = first(ins);
    const xin = x.layout === "flat" ? x : ctx.as(x, "NHWC");
    const shape = n.attrs.shape.map((d) => (d === "N" ? -1 : d));
    return {
      name: ctx.b.op("Reshape", [xin.name, ctx.b.ints(shape)], n.name),
      layout: shape.length === 4 ? "NHWC" : "flat",
    };
  },
  slice: (n, ins, ctx) => {
    const x = first(ins);
    const xin = x.layout === "flat" ? x : ctx.as(x, "NHWC");
    const a = n.attrs;
    const name = ctx.b.op(
      "Slice",
      [xin.name, ctx.b.ints([a.start]), ctx.b.ints([a.start + a.size]), ctx.b.ints([a.axis])],
      n.name,
    );
    return { name, layout: xin.layout };
  },
  unpatchify: (n, ins, ctx) => {
    const b = ctx.b;
    const x = ctx.as(first(ins), "NHWC");
    const [, h, w] = n.out.shape as [unknown, number, number, number]; // output grid, h = grid·patch
    const { patch, channels } = n.attrs;
    const gh = h / patch;
    const gw = w / patch;
    const six = b.op("Reshape", [x.name, b.ints([-1, gh, gw, patch, patch, channels])], `${n.name}/patches`);
    const t = b.op("Transpose", [six], `${n.name}/t`, { perm: [0, 1, 3, 2, 4, 5] });
    return { name: b.op("Reshape", [t, b.ints([-1, h, w, channels])], n.name), layout: "NHWC" };
  },
  "add-position": (n, ins, ctx) => {
    const x = ctx.as(first(ins), "NHWC");
    const { grid, width } = n.attrs;
    const table = ctx.b.op(
      "Reshape",
      [ctx.weight(n, "table"), ctx.b.ints([grid, grid, width])],
      `${n.name}/grid`,
    );
    return { name: ctx.b.op("Add", [x.name, table], n.name), layout: "NHWC" };
  },
  "timestep-embedding": (n, ins, ctx) => {
    const b = ctx.b;
    const a = n.attrs;
    const half = a.dim / 2;
    const t = b.op("Unsqueeze", [first(ins).name, b.ints([1])], `${n.name}/t`); // [N, 1]
    const freqs =
      a.kind === "fourier"
        ? b.op("Mul", [ctx.weight(n, "freqs"), b.scalar(2 * Math.PI)], `${n.name}/freqs`)
        : b.constant(
            Array.from({ length: half }, (_, i) => Math.exp((-Math.log(a.maxPeriod) * i) / half)),
            [half],
          );
    const args = b.op("Mul", [t, freqs], `${n.name}/args`);
    const cos = b.op("Cos", [args], `${n.name}/cos`);
    const sin = b.op("Sin", [args], `${n.name}/sin`);
    return flat(b.op("Concat", a.layout === "cos-sin" ? [cos, sin] : [sin, cos], n.name, { axis: 1 }));
  },
  "label-embedding": (n, ins, ctx) =>
    flat(ctx.b.op("Gather", [ctx.weight(n, "embedding_table.weight"), first(ins).name], n.name, { axis: 0 })),
  "window-attention": windowAttention,
} satisfies { [K in OpKind]: TensorLowering<K> };

export function lowerToTensors<K extends OpKind>(node: NodeOf<K>, ins: Val[], ctx: LowerContext): Val {
  return (TENSOR_LOWERINGS[node.op] as TensorLowering<K>)(node, ins, ctx);
}
