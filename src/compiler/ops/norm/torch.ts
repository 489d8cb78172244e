// GroupNorm and LayerNorm in PyTorch.
import { py, type TorchEmitter, tokenLayout } from "../torch-emitter.ts";
import type { NormOp } from "./def.ts";

export const NORM_TORCH = {
  "group-norm": (n, ctx) => {
    ctx.line(
      `${ctx.out} = F.group_norm(${ctx.as(0, "NCHW")}, ${n.attrs.groups}, ${ctx.param("weight")}, ${ctx.param("bias")}, eps=${py(n.attrs.eps)})`,
    );
    return "NCHW";
  },
  "layer-norm": (n, ctx) => {
    ctx.line(
      `${ctx.out} = F.layer_norm(${ctx.as(0, "NHWC")}, (${n.attrs.width},), ${ctx.optional("weight")}, ${ctx.optional("bias")}, eps=${py(n.attrs.eps)})`,
    );
    return tokenLayout(ctx.input(0));
  },
} satisfies { [K in NormOp]: TorchEmitter<K> };
