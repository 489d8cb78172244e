// Ops that move data without arithmetic: concat, reshape, slice, unpatchify, position tables.
import type { Dim } from "../ir/types.ts";
import type { OpDef } from "./op-def.ts";
import { expectRank, f32, noMacs, noParams, perSample } from "./op-def.ts";

const normAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

export const concat: OpDef<"concat"> = {
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

export const reshape: OpDef<"reshape"> = {
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

export const slice: OpDef<"slice"> = {
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

export const unpatchify: OpDef<"unpatchify"> = {
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

export const addPosition: OpDef<"add-position"> = {
  infer(a, [x]) {
    const bad = expectRank(x, 4, "add-position input");
    if (bad || !x) return bad ?? "missing input";
    const [, h, w, c] = x.shape;
    if (h !== a.grid || w !== a.grid || c !== a.width)
      return `expected a ${a.grid}×${a.grid}×${a.width} token grid`;
    return x;
  },
  params: (a) => [
    {
      role: "",
      shape: [a.grid * a.grid, a.width],
      init: a.learned ? { kind: "normal", std: 0.02 } : { kind: "sincos-2d", grid: a.grid },
      trainable: a.learned,
    },
  ],
  macs: noMacs,
};
