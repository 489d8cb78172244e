// The dense layer in PyTorch (weights converted to [out, in] by their layout kind).
import { type TorchEmitter, tokenLayout } from "../torch-emitter.ts";
import type { LinearOp } from "./def.ts";

export const LINEAR_TORCH = {
  linear: (_n, ctx) => {
    ctx.line(`${ctx.out} = F.linear(${ctx.as(0, "NHWC")}, ${ctx.param("weight")}, ${ctx.optional("bias")})`);
    return tokenLayout(ctx.input(0));
  },
} satisfies { [K in LinearOp]: TorchEmitter<K> };
