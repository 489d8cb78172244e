// Pooling and up-sampling as ONNX AveragePool and Resize on NCHW values.
import { firstVal, type TensorLowering } from "../../tensor/lower-context.ts";
import type { TensorOpAttrs } from "../../tensor/ops.ts";
import type { ResampleOp } from "./def.ts";

export const RESAMPLE_TENSOR = {
  "avg-pool": (n, ins, ctx) => {
    const x = ctx.as(firstVal(ins), "NCHW");
    const s = n.attrs.size;
    return {
      name: ctx.b.op("AveragePool", [x.name], n.name, { kernel_shape: [s, s], strides: [s, s] }),
      layout: "NCHW",
    };
  },
  resize: (n, ins, ctx) => {
    const x = ctx.as(firstVal(ins), "NCHW");
    const s = n.attrs.scale;
    const attrs: TensorOpAttrs["Resize"] =
      n.attrs.mode === "nearest"
        ? { mode: "nearest", coordinate_transformation_mode: "asymmetric", nearest_mode: "floor" }
        : { mode: "linear", coordinate_transformation_mode: "half_pixel" };
    const scales = ctx.b.constant([1, 1, s, s], [4]);
    return { name: ctx.b.op("Resize", [x.name, "", scales], n.name, attrs), layout: "NCHW" };
  },
} satisfies { [K in ResampleOp]: TensorLowering<K> };
