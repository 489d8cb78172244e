// Time, label and position embeddings in the tensor tier.
import { firstVal, flat, type TensorLowering } from "../../tensor/lower-context.ts";
import type { EmbeddingOp } from "./def.ts";

export const EMBEDDING_TENSOR = {
  "timestep-embedding": (n, ins, ctx) => {
    const b = ctx.b;
    const a = n.attrs;
    const half = a.dim / 2;
    const t = b.op("Unsqueeze", [firstVal(ins).name, b.ints([1])], `${n.name}/t`); // [N, 1]
    const freqs =
      a.kind === "fourier"
        ? b.op("Mul", [ctx.weight(n, "freqs"), b.scalar(2 * Math.PI)], `${n.name}/freqs`)
        : b.constant(
            Array.from({ length: half }, (_, i) => Math.exp((-Math.log(a.maxPeriod) * i) / half)),
            [half],
          );
    const args = b.op("Mul", [t, freqs], `${n.name}/args`);
    const cos = b.op("Cos", [args], `${n.name}/cos`);
    const sin = b.op("Sin", [args], `${n.name}/sin`);
    return flat(b.op("Concat", a.layout === "cos-sin" ? [cos, sin] : [sin, cos], n.name, { axis: 1 }));
  },
  "label-embedding": (n, ins, ctx) =>
    flat(
      ctx.b.op("Gather", [ctx.weight(n, "embedding_table.weight"), firstVal(ins).name], n.name, { axis: 0 }),
    ),
  "add-position": (n, ins, ctx) => {
    const x = ctx.as(firstVal(ins), "NHWC");
    const { grid, width } = n.attrs;
    const table = ctx.b.op(
      "Reshape",
      [ctx.weight(n, "table"), ctx.b.ints([grid, grid, width])],
      `${n.name}/grid`,
    );
    return { name: ctx.b.op("Add", [x.name, table], n.name), layout: "NHWC" };
  },
} satisfies { [K in EmbeddingOp]: TensorLowering<K> };
