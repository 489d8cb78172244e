// Ops that move data without arithmetic: concat, reshape, slice and unpatchify.
import type { Dim, Shape } from "../../ir/types.ts";
import type { OpDef, PrimitiveName } from "../op-def.ts";
import { expectRank, f32, noMacs, noParams, perSample } from "../op-def.ts";

export interface LayoutAttrs {
  concat: { axis: number };
  reshape: { shape: Shape };
  slice: { axis: number; start: number; size: number };
  /** [N, h, w, p·p·C] → [N, h·p, w·p, C]; each token's last axis is ordered (row, column, channel) [OFF]. */
  unpatchify: { patch: number; channels: number };
}

export type LayoutOp = keyof LayoutAttrs;

const normAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

const concat: OpDef<"concat"> = {
  infer(a, ins) {
    const [first] = ins;
    if (!first) return "concat needs inputs";
    const axis = normAxis(a.axis, first.shape.length);
    let total = 0;
    for (const t of ins) {
      if (t.shape.length !== first.shape.length) return "concat inputs differ in rank";
      for (let i = 0; i < t.shape.length; i++) {
        if (i !== axis && t.shape[i] !== first.shape[i]) return `concat inputs differ on axis ${i}`;
      }
      const d = t.shape[axis];
      if (typeof d !== "number") return "concat axis must be static";
      total += d;
    }
    return f32(first.shape.map((d, i) => (i === axis ? total : d)));
  },
  params: noParams,
  macs: noMacs,
};

const reshape: OpDef<"reshape"> = {
  infer(a, [x]) {
    if (!x) return "missing input";
    const batched = (s: readonly Dim[]) => s.includes("N");
    if (batched(x.shape) !== batched(a.shape) || perSample(x.shape) !== perSample(a.shape)) {
      return `cannot reshape [${x.shape.join(", ")}] to [${a.shape.join(", ")}]`;
    }
    return { shape: a.shape, dtype: x.dtype };
  },
  params: noParams,
  macs: noMacs,
};

const slice: OpDef<"slice"> = {
  infer(a, [x]) {
    if (!x) return "missing input";
    const axis = normAxis(a.axis, x.shape.length);
    const d = x.shape[axis];
    if (typeof d !== "number" || a.start + a.size > d)
      return `slice [${a.start}, ${a.start + a.size}) exceeds axis ${d}`;
    return f32(x.shape.map((s, i) => (i === axis ? a.size : s)));
  },
  params: noParams,
  macs: noMacs,
};

const unpatchify: OpDef<"unpatchify"> = {
  infer(a, [x]) {
    const bad = expectRank(x, 4, "unpatchify input");
    if (bad || !x) return bad ?? "missing input";
    const [n, h, w, c] = x.shape;
    if (c !== a.patch * a.patch * a.channels)
      return `unpatchify expects ${a.patch * a.patch * a.channels} features, got ${c}`;
    return f32([n ?? "N", Number(h) * a.patch, Number(w) * a.patch, a.channels]);
  },
  params: noParams,
  macs: noMacs,
};

export const LAYOUT_DEFS = { concat, reshape, slice, unpatchify } satisfies { [K in LayoutOp]: OpDef<K> };

export const LAYOUT_PRIMITIVES = {
  concat: { name: "concat" },
  reshape: { name: "reshape" },
  slice: { name: "slice" },
  unpatchify: { name: "unpatchify" },
} as const satisfies { [K in LayoutOp]: PrimitiveName };
