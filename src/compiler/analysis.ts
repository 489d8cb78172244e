// Static analysis of an IR graph: per-layer output shape, parameters and MACs (split into
// linear/conv and attention matmuls), and totals — all before any tensor exists.

import type { Graph, Shape } from "./ir/types.ts";
import { nodeMacs } from "./ops/index.ts";
import { perSample } from "./ops/op-def.ts";

export interface LayerRow {
  name: string;
  op: string;
  shape: Shape;
  params: number;
  macsLinear: number;
  macsAttention: number;
}

export interface Totals {
  /** Every parameter tensor, fixed tables included (as PyTorch's parameters() counts DiT's pos_embed). */
  params: number;
  trainableParams: number;
  fixedParams: number;
  macsLinear: number;
  macsAttention: number;
  macs: number;
  /** Per-sample float32 bytes of every node output and attention matrix: a training-memory estimate. */
  activationBytes: number;
}

export interface Analysis {
  name: string;
  family: "image" | "latent";
  rows: LayerRow[];
  totals: Totals;
}

const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export function analyze(g: Graph): Analysis {
  const paramsByNode = new Map<number, number>();
  let trainable = 0;
  let fixed = 0;
  for (const p of g.params) {
    const n = product(p.shape);
    paramsByNode.set(p.node, (paramsByNode.get(p.node) ?? 0) + n);
    if (p.trainable) trainable += n;
    else fixed += n;
  }
  const rows: LayerRow[] = [];
  let activations = 0;
  for (const n of g.nodes) {
    if (n.op === "input") continue;
    const inputs = n.inputs.map((id) => g.nodes[id]?.out).filter((t) => t !== undefined);
    const m = nodeMacs(n, inputs);
    rows.push({
      name: n.name,
      op: n.op,
      shape: n.out.shape,
      params: paramsByNode.get(n.id) ?? 0,
      macsLinear: m.linear,
      macsAttention: m.attention,
    });
    activations += perSample(n.out.shape);
    if (n.op === "window-attention") {
      const tokens = perSample(n.out.shape) / n.attrs.width;
      // q, k, v and the per-head window score matrices (plus softmax output).
      activations += 3 * tokens * n.attrs.width + 2 * tokens * n.attrs.window ** 2 * n.attrs.heads;
    }
  }
  const macsLinear = rows.reduce((a, r) => a + r.macsLinear, 0);
  const macsAttention = rows.reduce((a, r) => a + r.macsAttention, 0);
  return {
    name: g.name,
    family: g.family,
    rows,
    totals: {
      params: trainable + fixed,
      trainableParams: trainable,
      fixedParams: fixed,
      macsLinear,
      macsAttention,
      macs: macsLinear + macsAttention,
      activationBytes: activations * 4,
    },
  };
}

/** Splits a node name into units, a numeric index staying with its parent ("blocks.3"). */
function units(name: string): string[] {
  const out: string[] = [];
  for (const seg of name.split(".")) {
    if (/^\d+$/.test(seg) && out.length > 0) out[out.length - 1] = `${out[out.length - 1]}.${seg}`;
    else out.push(seg);
  }
  return out;
}

/** Aggregates rows by the first `depth` units of their names (`--depth` in `diffit inspect`). */
export function groupRows(rows: readonly LayerRow[], depth: number): LayerRow[] {
  const groups = new Map<string, LayerRow>();
  for (const r of rows) {
    const u = units(r.name);
    const key = u.slice(0, depth).join(".");
    const g = groups.get(key);
    if (!g) {
      groups.set(key, { ...r, name: key, op: u.length > depth ? "module" : r.op });
    } else {
      g.params += r.params;
      g.macsLinear += r.macsLinear;
      g.macsAttention += r.macsAttention;
      g.shape = r.shape;
      g.op = "module";
    }
  }
  return [...groups.values()];
}
