// TMSA on an NHWC grid in the tensor tier [P Eq 3-6] (see def.ts). Tokens are window-partitioned
// before the projection (a per-token map commutes with it, and C channels move instead of 3C);
// attention runs heads first (see headsOf).
import type { NodeOf } from "../../ir/types.ts";
import { firstVal, type LowerContext, type TensorLowering, type Val } from "../../tensor/lower-context.ts";
import { dense } from "../linear/tensor.ts";
import { type AttentionOp, biasTableRows, relativePositionIndex } from "./def.ts";

type Node = NodeOf<"window-attention">;

/** Sizes: C width, d = C/heads, w window, T = w² tokens per window, nh × nw windows of an H × W grid. */
interface Geometry {
  c: number;
  heads: number;
  d: number;
  w: number;
  T: number;
  nh: number;
  nw: number;
  H: number;
  W: number;
}

function geometry(node: Node): Geometry {
  const [, H, W] = node.out.shape as [unknown, number, number, number];
  const { width: c, heads, window: w } = node.attrs;
  return { c, heads, d: c / heads, w, T: w * w, nh: H / w, nw: W / w, H, W };
}

/** Windows [N, nh, w, nw, w, C] → [N, nh·nw·T, C]. */
function windowTokens(x: Val, h: string, g: Geometry, ctx: LowerContext): string {
  const b = ctx.b;
  const grid = b.op("Reshape", [x.name, b.ints([-1, g.nh, g.w, g.nw, g.w, g.c])], `${h}/grid`);
  const win = b.op("Transpose", [grid], `${h}/windows`, { perm: [0, 1, 3, 2, 4, 5] });
  return b.op("Reshape", [win, b.ints([-1, g.nh * g.nw * g.T, g.c])], `${h}/tokens`);
}

/** Eq 3-5: the fused spatial projection plus the temporal one, per sample: [N, nh·nw·T, 3C]. */
function qkvProjection(node: Node, tokens: string, temb: Val | undefined, ctx: LowerContext): string {
  const a = node.attrs;
  const h = node.name;
  const bias = (role: string) => (a.qkvBias ? ctx.weight(node, role) : undefined);
  const qkv = dense(
    ctx,
    { name: tokens, layout: "flat" },
    ctx.weight(node, "qkv.weight"),
    bias("qkv.bias"),
    `${h}/qkv`,
  );
  if (a.mode !== "tmsa") return qkv.name;
  if (!temb) throw new Error("TMSA needs the time token");
  const t = dense(ctx, temb, ctx.weight(node, "qkv_temb.weight"), bias("qkv_temb.bias"), `${h}/qkv_temb`);
  const b = ctx.b;
  return b.op("Add", [qkv.name, b.op("Unsqueeze", [t.name, b.ints([1])], `${h}/temb3`)], `${h}/qkv_t`);
}

/**
 * Heads first: [N·L, 3·heads, d] → [3·heads, N·L, d], one transpose that moves whole d-runs,
 * then q, k, v split off along its first axis as [heads, N·nW, T, d]. No operand of the
 * attention products is then a Transpose output, so onnxruntime folds their transposes (kᵀ
 * here, and those the backward pass adds) into the MatMuls; with the batch axis first, k's
 * [0, 2, 3, 1] transpose and the backward pass's ones cost 6–8 % of a step (profiled).
 */
function headsOf(qkv: string, h: string, g: Geometry, ctx: LowerContext): [string, string, string] {
  const b = ctx.b;
  const { heads, d } = g;
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
    b.op("Reshape", [t, b.ints([heads, -1, g.T, d])], `${h}/${role}`);
  return [toHeads(q0 ?? "", "q"), toHeads(k0 ?? "", "k"), toHeads(v0 ?? "", "v")];
}

/** B from the relative position table, per head, shared by every window: [heads, 1, T, T]. */
function positionBias(node: Node, scores: string, idx: string, g: Geometry, ctx: LowerContext): string {
  const b = ctx.b;
  const h = node.name;
  const { T, heads } = g;
  const picked = b.op("Gather", [ctx.weight(node, "relative_position_bias_table"), idx], `${h}/rpb`, {
    axis: 0,
  });
  const bias = b.op(
    "Transpose",
    [b.op("Reshape", [picked, b.ints([T, T, heads, 1])], `${h}/rpb4`)],
    `${h}/rpb_h1TT`,
    { perm: [2, 3, 0, 1] },
  );
  return b.op("Add", [scores, bias], `${h}/scores_b`);
}

/** Table 6 F: the time token yields a per-sample bias table, broadcast over the sample's windows. */
function timeBias(
  node: Node,
  scores: string,
  idx: string,
  temb: Val,
  g: Geometry,
  ctx: LowerContext,
): string {
  const b = ctx.b;
  const h = node.name;
  const { T, heads } = g;
  const t = dense(
    ctx,
    temb,
    ctx.weight(node, "temb_bias.weight"),
    ctx.weight(node, "temb_bias.bias"),
    `${h}/temb_bias`,
  );
  const table = b.op("Reshape", [t.name, b.ints([-1, biasTableRows(g.w), heads])], `${h}/tb_table`);
  const picked = b.op("Gather", [table, idx], `${h}/tb_pick`, { axis: 1 }); // [N, T·T, heads]
  // Per sample and head: [heads, N, 1, T, T].
  const bias = b.op(
    "Transpose",
    [b.op("Reshape", [picked, b.ints([-1, 1, T, T, heads])], `${h}/tb5`)],
    `${h}/tb_hN1TT`,
    { perm: [4, 0, 1, 2, 3] },
  );
  const s5 = b.op("Reshape", [scores, b.ints([heads, -1, g.nh * g.nw, T, T])], `${h}/scores5`);
  return b.op(
    "Reshape",
    [b.op("Add", [s5, bias], `${h}/scores5_b`), b.ints([heads, -1, T, T])],
    `${h}/scores_tb`,
  );
}

/** [heads, N·nW, T, d] back to tokens ([N·L, heads, d], whole d-runs again), then to the grid. */
function mergeWindows(out: string, h: string, g: Geometry, ctx: LowerContext): string {
  const b = ctx.b;
  const mergedT = b.op(
    "Transpose",
    [b.op("Reshape", [out, b.ints([g.heads, -1, g.d])], `${h}/out3`)],
    `${h}/merge_t`,
    { perm: [1, 0, 2] },
  );
  const merged = b.op("Reshape", [mergedT, b.ints([-1, g.nh, g.nw, g.w, g.w, g.c])], `${h}/merge`);
  const back = b.op("Transpose", [merged], `${h}/unwindow`, { perm: [0, 1, 3, 2, 4, 5] });
  return b.op("Reshape", [back, b.ints([-1, g.H, g.W, g.c])], `${h}/grid_out`);
}

const windowAttention: TensorLowering<"window-attention"> = (node, ins, ctx) => {
  const a = node.attrs;
  const b = ctx.b;
  const h = node.name;
  const g = geometry(node);
  const temb = ins[1];
  const tokens = windowTokens(ctx.as(firstVal(ins), "NHWC"), h, g, ctx);
  const [q, k, v] = headsOf(qkvProjection(node, tokens, temb, ctx), h, g, ctx);
  // Eq 6: softmax(q·kᵀ/√d + B)·v, q scaled first as [OFF] does.
  const qs = b.op("Mul", [q, b.scalar(g.d ** -0.5)], `${h}/q_scaled`);
  const kt = b.op("Transpose", [k], `${h}/k_t`, { perm: [0, 1, 3, 2] });
  let scores = b.op("MatMul", [qs, kt], `${h}/scores`); // [heads, N·nW, T, T]
  const idx = b.constant(Array.from(relativePositionIndex(g.w)), [g.T * g.T], "int64");
  if (a.relativePositionBias) scores = positionBias(node, scores, idx, g, ctx);
  if (a.mode === "time-in-bias") {
    if (!temb) throw new Error("time-in-bias needs the time token");
    scores = timeBias(node, scores, idx, temb, g, ctx);
  }
  const attn = b.op("Softmax", [scores], `${h}/softmax`, { axis: -1 });
  const out = b.op("MatMul", [attn, v], `${h}/attn_v`); // [heads, N·nW, T, d]
  const y = mergeWindows(out, h, g, ctx);
  return dense(
    ctx,
    { name: y, layout: "NHWC" },
    ctx.weight(node, "proj.weight"),
    ctx.weight(node, "proj.bias"),
    `${h}/proj`,
  );
};

export const ATTENTION_TENSOR = {
  "window-attention": windowAttention,
} satisfies { [K in AttentionOp]: TensorLowering<K> };
