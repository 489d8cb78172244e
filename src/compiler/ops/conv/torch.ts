// Convolutions in PyTorch (kernels converted to PyTorch's order by their layout kind).
import type { TorchEmitter } from "../torch-emitter.ts";
import type { ConvOp } from "./def.ts";

export const CONV_TORCH = {
  conv2d: (n, ctx) => {
    const a = n.attrs;
    ctx.line(
      `${ctx.out} = F.conv2d(${ctx.as(0, "NCHW")}, ${ctx.param("weight")}, ${ctx.optional("bias")}, stride=${a.stride}, padding=${a.padding})`,
    );
    return "NCHW";
  },
  "conv-transpose2d": (n, ctx) => {
    const a = n.attrs;
    ctx.line(
      `${ctx.out} = F.conv_transpose2d(${ctx.as(0, "NCHW")}, ${ctx.param("weight")}, ${ctx.optional("bias")}, stride=${a.stride}, padding=${a.padding}, output_padding=${a.outputPadding})`,
    );
    return "NCHW";
  },
} satisfies { [K in ConvOp]: TorchEmitter<K> };
