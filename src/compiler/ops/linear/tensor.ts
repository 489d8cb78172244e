// The dense layer as MatMul (+ Add) over the last axis of a channels-last value.
import { firstVal, type LowerContext, type TensorLowering, type Val } from "../../tensor/lower-context.ts";
import type { LinearOp } from "./def.ts";

/** x·W + b over the last axis (channels-last values), W as [in, out]. */
export function dense(ctx: LowerContext, x: Val, w: string, b: string | undefined, hint: string): Val {
  const layout = x.layout === "flat" ? "flat" : "NHWC";
  const xin = x.layout === "flat" ? x : ctx.as(x, "NHWC");
  const y = ctx.b.op("MatMul", [xin.name, w], hint);
  return { name: b ? ctx.b.op("Add", [y, b], `${hint}/bias`) : y, layout };
}

export const LINEAR_TENSOR = {
  linear: (n, ins, ctx) =>
    dense(
      ctx,
      firstVal(ins),
      ctx.weight(n, "weight"),
      n.attrs.bias ? ctx.weight(n, "bias") : undefined,
      n.name,
    ),
} satisfies { [K in LinearOp]: TensorLowering<K> };
