// Data movement in the tensor tier. The IR's axes are channels-last; a rank-4 value held NCHW is
// brought back to NHWC (or its axis renumbered) where the op's attributes name IR axes.
import { firstVal, type TensorLowering } from "../../tensor/lower-context.ts";
import type { LayoutOp } from "./def.ts";

export const LAYOUT_TENSOR = {
  concat: (n, ins, ctx) => {
    const target = ins[0]?.layout === "NCHW" ? "NCHW" : "NHWC";
    const rank4 = ins.every((v) => v.layout !== "flat");
    const names = ins.map((v) => (rank4 ? ctx.as(v, target).name : v.name));
    // The IR's axis is channels-last; in NCHW the channel axis is 1.
    const axis = rank4 && target === "NCHW" && (n.attrs.axis === -1 || n.attrs.axis === 3) ? 1 : n.attrs.axis;
    return { name: ctx.b.op("Concat", names, n.name, { axis }), layout: rank4 ? target : "flat" };
  },
  reshape: (n, ins, ctx) => {
    const x = firstVal(ins);
    const xin = x.layout === "flat" ? x : ctx.as(x, "NHWC");
    const shape = n.attrs.shape.map((d) => (d === "N" ? -1 : d));
    return {
      name: ctx.b.op("Reshape", [xin.name, ctx.b.ints(shape)], n.name),
      layout: shape.length === 4 ? "NHWC" : "flat",
    };
  },
  slice: (n, ins, ctx) => {
    const x = firstVal(ins);
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
    const x = ctx.as(firstVal(ins), "NHWC");
    const [, h, w] = n.out.shape as [unknown, number, number, number]; // output grid, h = grid·patch
    const { patch, channels } = n.attrs;
    const gh = h / patch;
    const gw = w / patch;
    const six = b.op("Reshape", [x.name, b.ints([-1, gh, gw, patch, patch, channels])], `${n.name}/patches`);
    const t = b.op("Transpose", [six], `${n.name}/t`, { perm: [0, 1, 3, 2, 4, 5] });
    return { name: b.op("Reshape", [t, b.ints([-1, h, w, channels])], n.name), layout: "NHWC" };
  },
} satisfies { [K in LayoutOp]: TensorLowering<K> };
