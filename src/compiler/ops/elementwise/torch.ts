// Activations, dropout and broadcasting arithmetic in PyTorch.
import type { TorchEmitContext, TorchEmitter, ValueLayout } from "../torch-emitter.ts";
import { py } from "../torch-emitter.ts";
import type { ElementwiseOp } from "./def.ts";

/** As the ONNX lowering: rank-4 operands take the layout of the first rank-4 one. */
function common(n: { inputs: readonly number[] }, ctx: TorchEmitContext): ValueLayout {
  return n.inputs.map((_, i) => ctx.input(i).layout).find((l) => l !== "flat") ?? "flat";
}

export const ELEMENTWISE_TORCH = {
  "gelu-tanh": (_n, ctx) => {
    ctx.line(`${ctx.out} = F.gelu(${ctx.input(0).name}, approximate="tanh")`);
    return ctx.input(0).layout;
  },
  silu: (_n, ctx) => {
    ctx.line(`${ctx.out} = F.silu(${ctx.input(0).name})`);
    return ctx.input(0).layout;
  },
  add: (n, ctx) => {
    const target = common(n, ctx);
    ctx.line(`${ctx.out} = ${n.inputs.map((_, i) => ctx.as(i, target)).join(" + ")}`);
    return target;
  },
  mul: (n, ctx) => {
    const target = common(n, ctx);
    ctx.line(`${ctx.out} = ${n.inputs.map((_, i) => ctx.as(i, target)).join(" * ")}`);
    return target;
  },
  modulate: (n, ctx) => {
    // inputs [x, shift, scale]
    const target = common(n, ctx);
    ctx.line(`${ctx.out} = ${ctx.as(0, target)} * (1 + ${ctx.as(2, target)}) + ${ctx.as(1, target)}`);
    return target;
  },
  dropout: (n, ctx) => {
    ctx.line(`${ctx.out} = F.dropout(${ctx.input(0).name}, ${py(n.attrs.rate)}, self.training)`);
    return ctx.input(0).layout;
  },
} satisfies { [K in ElementwiseOp]: TorchEmitter<K> };
