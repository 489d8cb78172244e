// Graph inputs in the PyTorch module: forward(x, t, y) with x NCHW.
import type { TorchEmitter } from "../torch-emitter.ts";
import type { InputOp } from "./def.ts";

export const INPUT_TORCH = {
  input: (n, ctx) => {
    ctx.line(`${ctx.out} = ${n.attrs.role}`);
    return n.attrs.role === "x" ? "NCHW" : "flat";
  },
} satisfies { [K in InputOp]: TorchEmitter<K> };
