// VJPs of Conv and ConvTranspose (NCHW, square symmetric padding, no groups or dilation), each
// expressed with the other op or with a dilated convolution, so the backward graph needs no
// custom kernels:
//   Conv:          dx = ConvTranspose(g, W), or at stride 1 Conv(g, flip(W)ᵀ)
//                                                      dW = Conv(xᵀ, gᵀ, dilation = stride)ᵀ
//   ConvTranspose: dx = Conv(g, W)                     dW = Conv(gᵀ, xᵀ, dilation = stride)ᵀ
// where ᵀ swaps the batch and channel axes. The dilated convolution can overshoot the kernel
// by up to stride − 1 taps (the rows a strided forward pass never reaches), which are sliced off.
import type { NodeProto } from "../../emit/onnx/proto.ts";
import { attrInt, attrInts, input, output } from "../onnx-attrs.ts";
import { gradOf, reduceSum, type VjpContext, type VjpRule } from "../vjp.ts";

interface Geometry {
  kernel: number;
  stride: number;
  pad: number;
}

function geometry(node: NodeProto, ctx: VjpContext): Geometry {
  const w = ctx.shapes.get(input(node, 1));
  const kernel = attrInts(node, "kernel_shape")?.[0] ?? w[2] ?? 1;
  const stride = attrInts(node, "strides")?.[0] ?? 1;
  const pads = attrInts(node, "pads") ?? [0, 0, 0, 0];
  const dil = attrInts(node, "dilations") ?? [1, 1];
  if (attrInt(node, "group", 1) !== 1 || dil.some((d) => d !== 1) || new Set(pads).size > 1) {
    throw new Error(`no VJP for grouped, dilated or asymmetrically padded ${node.opType} (${node.name})`);
  }
  return { kernel, stride, pad: pads[0] ?? 0 };
}

const swapNC = (ctx: VjpContext, x: string, hint: string) =>
  ctx.b.op("Transpose", [x], hint, { perm: [1, 0, 2, 3] });

/** Weight gradient laid out [A, B, k, k] from a dilated Conv of `img`ᵀ by `filt`ᵀ, sliced to k. */
function weightGrad(ctx: VjpContext, img: string, filt: string, g: Geometry, hint: string): string {
  const full = ctx.b.op(
    "Conv",
    [swapNC(ctx, img, `${hint}/imgT`), swapNC(ctx, filt, `${hint}/filtT`)],
    `${hint}/full`,
    { dilations: [g.stride, g.stride], pads: [g.pad, g.pad, g.pad, g.pad] },
  );
  const k = g.kernel;
  const cut = ctx.b.op(
    "Slice",
    [full, ctx.b.ints([0, 0]), ctx.b.ints([k, k]), ctx.b.ints([2, 3])],
    `${hint}/kernel`,
  );
  return swapNC(ctx, cut, hint);
}

const biasGrad = (ctx: VjpContext, g: string, hint: string) => reduceSum(ctx, g, [0, 2, 3], false, hint);

export const CONV_VJPS = {
  Conv: (node, grads, needs, ctx) => {
    const g = gradOf(grads);
    const geo = geometry(node, ctx);
    const h = `${output(node)}/grad`;
    const [, , H = 1] = ctx.shapes.get(input(node, 0));
    const [, , oh = 1] = ctx.shapes.get(output(node));
    const p = geo.pad;
    const outPad = H - ((oh - 1) * geo.stride - 2 * p + geo.kernel);
    let dx: string | undefined;
    if (needs[0] && geo.stride === 1) {
      // Stride 1: a plain Conv by the flipped, in/out-swapped kernel. onnxruntime's
      // ConvTranspose (col2im) measured 4× slower than its Conv on these shapes.
      const k = geo.kernel;
      const reversed = ctx.b.constant(
        Array.from({ length: k }, (_, i) => k - 1 - i),
        [k],
        "int64",
      );
      const swapped = swapNC(ctx, input(node, 1), `${h}/wT`);
      const flipped = ctx.b.op(
        "Gather",
        [ctx.b.op("Gather", [swapped, reversed], `${h}/w_flip_h`, { axis: 2 }), reversed],
        `${h}/w_flip`,
        { axis: 3 },
      );
      const q = k - 1 - p;
      dx = ctx.b.op("Conv", [g, flipped], `${h}/dx`, { pads: [q, q, q, q] });
    } else if (needs[0]) {
      dx = ctx.b.op("ConvTranspose", [g, input(node, 1)], `${h}/dx`, {
        kernel_shape: [geo.kernel, geo.kernel],
        strides: [geo.stride, geo.stride],
        pads: [p, p, p, p],
        output_padding: [outPad, outPad],
      });
    }
    // Conv weights are [O, C, k, k]: the dilated conv yields [C, O, k, k], swapped back.
    const dw = needs[1] ? weightGrad(ctx, input(node, 0), g, geo, `${h}/dw`) : undefined;
    const db = needs[2] ? biasGrad(ctx, g, `${h}/db`) : undefined;
    return [dx, dw, db];
  },
  ConvTranspose: (node, grads, needs, ctx) => {
    const g = gradOf(grads);
    const geo = geometry(node, ctx);
    const h = `${output(node)}/grad`;
    const p = geo.pad;
    const dx = needs[0]
      ? ctx.b.op("Conv", [g, input(node, 1)], `${h}/dx`, {
          kernel_shape: [geo.kernel, geo.kernel],
          strides: [geo.stride, geo.stride],
          pads: [p, p, p, p],
        })
      : undefined;
    // ConvTranspose weights are [I, O, k, k]: the dilated conv of gᵀ by xᵀ yields [O, I, k, k].
    const dw = needs[1] ? weightGrad(ctx, g, input(node, 0), geo, `${h}/dw`) : undefined;
    const db = needs[2] ? biasGrad(ctx, g, `${h}/db`) : undefined;
    return [dx, dw, db];
  },
} satisfies Record<string, VjpRule>;
