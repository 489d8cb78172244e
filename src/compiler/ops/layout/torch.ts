// Data movement in PyTorch; IR axes are channels-last, so rank-4 operands are read NHWC (concat
// renumbers its axis when its operands are NCHW).
import type { TorchEmitter, ValueLayout } from "../torch-emitter.ts";
import { tokenLayout } from "../torch-emitter.ts";
import type { LayoutOp } from "./def.ts";

export const LAYOUT_TORCH = {
  concat: (n, ctx) => {
    const ins = n.inputs.map((_, i) => i);
    const rank4 = ins.every((i) => ctx.input(i).layout !== "flat");
    const target: ValueLayout = ctx.input(0).layout === "NCHW" ? "NCHW" : "NHWC";
    const names = ins.map((i) => (rank4 ? ctx.as(i, target) : ctx.input(i).name));
    const last = n.attrs.axis === -1 || n.attrs.axis === 3;
    const axis = rank4 && target === "NCHW" && last ? 1 : n.attrs.axis;
    ctx.line(`${ctx.out} = torch.cat([${names.join(", ")}], ${axis})`);
    return rank4 ? target : "flat";
  },
  reshape: (n, ctx) => {
    const shape = n.attrs.shape.map((d) => (d === "N" ? -1 : d));
    ctx.line(`${ctx.out} = ${ctx.as(0, "NHWC")}.reshape(${shape.join(", ")})`);
    return shape.length === 4 ? "NHWC" : "flat";
  },
  slice: (n, ctx) => {
    const a = n.attrs;
    ctx.line(`${ctx.out} = ${ctx.as(0, "NHWC")}.narrow(${a.axis}, ${a.start}, ${a.size})`);
    return tokenLayout(ctx.input(0));
  },
  unpatchify: (n, ctx) => {
    const [, h, w] = n.out.shape as [unknown, number, number];
    const { patch, channels } = n.attrs;
    ctx.line(
      `${ctx.out} = ${ctx.as(0, "NHWC")}.reshape(-1, ${h / patch}, ${w / patch}, ${patch}, ${patch}, ${channels}).permute(0, 1, 3, 2, 4, 5).reshape(-1, ${h}, ${w}, ${channels})`,
    );
    return "NHWC";
  },
} satisfies { [K in LayoutOp]: TorchEmitter<K> };
