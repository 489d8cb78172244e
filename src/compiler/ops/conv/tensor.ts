// Convolutions as ONNX Conv and ConvTranspose on NCHW values; the kernels arrive in the form
// their layout kind gives ONNX (OIHW, IOHW).
import { firstVal, type TensorLowering } from "../../tensor/lower-context.ts";
import type { ConvOp } from "./def.ts";

export const CONV_TENSOR = {
  conv2d: (n, ins, ctx) => {
    const a = n.attrs;
    const x = ctx.as(firstVal(ins), "NCHW");
    const inputs = [x.name, ctx.weight(n, "weight"), ...(a.bias ? [ctx.weight(n, "bias")] : [])];
    const p = a.padding;
    return {
      name: ctx.b.op("Conv", inputs, n.name, {
        kernel_shape: [a.kernel, a.kernel],
        strides: [a.stride, a.stride],
        pads: [p, p, p, p],
      }),
      layout: "NCHW",
    };
  },
  "conv-transpose2d": (n, ins, ctx) => {
    const a = n.attrs;
    const x = ctx.as(firstVal(ins), "NCHW");
    const p = a.padding;
    const attrs = {
      kernel_shape: [a.kernel, a.kernel],
      strides: [a.stride, a.stride],
      pads: [p, p, p, p],
      output_padding: [a.outputPadding, a.outputPadding],
    };
    return {
      name: ctx.b.op(
        "ConvTranspose",
        [x.name, ctx.weight(n, "weight"), ctx.weight(n, "bias")],
        n.name,
        attrs,
      ),
      layout: "NCHW",
    };
  },
} satisfies { [K in ConvOp]: TensorLowering<K> };
