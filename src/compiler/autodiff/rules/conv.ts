// VJPs of Conv and ConvTranspose (NCHW, square symmetric padding, no groups or dilation), each
// expressed with the other op or with a dilated convolution, so the backward graph needs no
// custom kernels:
//   Conv:          dx = ConvTranspose(g, W), or at stride 1 Conv(g, flip(W)ᵀ)
//                  dW = Σ over the batch of g · (x's strided window at each kernel tap)
//   ConvTranspose: dx = Conv(g, W)
//                  dW = Σ over the batch of x · (g's strided window at each kernel tap)
// where ᵀ swaps the batch and channel axes.
import type { TensorNodeOf } from "../../tensor/ops.ts";
import { arg, type Dims, gradOf, out, reduceSum, type VjpContext } from "../vjp.ts";
import type { VjpRules } from "./table.ts";

interface Geometry {
  kernel: number;
  stride: number;
  pad: number;
}

function geometry(node: TensorNodeOf<"Conv" | "ConvTranspose">, ctx: VjpContext): Geometry {
  const w = ctx.b.dims(arg(node, 1));
  const a = node.attrs;
  const kernel = a.kernel_shape?.[0] ?? w[2] ?? 1;
  const stride = a.strides?.[0] ?? 1;
  const pads = a.pads ?? [0, 0, 0, 0];
  const dil = a.dilations ?? [1, 1];
  if ((a.group ?? 1) !== 1 || dil.some((d) => d !== 1) || new Set(pads).size > 1) {
    throw new Error(`no VJP for grouped, dilated or asymmetrically padded ${node.op} (${node.name})`);
  }
  return { kernel, stride, pad: pads[0] ?? 0 };
}

const swapNC = (ctx: VjpContext, x: string, hint: string) =>
  ctx.b.op("Transpose", [x], hint, { perm: [1, 0, 2, 3] });

/**
 * Weight gradient [B, A, k, k] = Σ_{n,y,x} filt[n, b, y, x] · pad(img)[n, a, s·y + i, s·x + j],
 * one batched MatMul per kernel tap (i, j) over a strided Slice of the padded image, summed over
 * the batch. onnxruntime runs the textbook form, a Conv of imgᵀ by filtᵀ whose kernel is the
 * whole feature map, as one skinny GEMM per channel: 2.7× slower on tiny-fmnist's 3×3 convs.
 */
function weightGrad(
  ctx: VjpContext,
  [img, imgDims]: [string, Dims],
  [filt, filtDims]: [string, Dims],
  g: Geometry,
  hint: string,
): string {
  const b = ctx.b;
  const [N = 1, A = 1, Hi = 1, Wi = 1] = imgDims;
  const [, B = 1, oh = 1, ow = 1] = filtDims;
  const { kernel: k, stride: s, pad: p } = g;
  // Rows a strided forward pass never reaches may need padding past the symmetric p.
  const extraH = Math.max(0, s * (oh - 1) + k - (Hi + 2 * p));
  const extraW = Math.max(0, s * (ow - 1) + k - (Wi + 2 * p));
  const padded =
    p + extraH + extraW === 0
      ? img
      : b.op("Pad", [img, b.ints([0, 0, p, p, 0, 0, p + extraH, p + extraW])], `${hint}/img_pad`);
  const filtT = b.op(
    "Transpose",
    [b.op("Reshape", [filt, b.ints([N, B, oh * ow])], `${hint}/filt3`)],
    `${hint}/filtT`,
    { perm: [0, 2, 1] },
  ); // [N, oh·ow, B]
  const taps: string[] = [];
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++) {
      const t = `${hint}/tap${i}${j}`;
      const cols = b.op(
        "Slice",
        [
          padded,
          b.ints([i, j]),
          b.ints([i + s * (oh - 1) + 1, j + s * (ow - 1) + 1]),
          b.ints([2, 3]),
          b.ints([s, s]),
        ],
        `${t}/cols`,
      ); // [N, A, oh, ow]
      const flat = b.op("Reshape", [cols, b.ints([N, A, oh * ow])], `${t}/flat`);
      const perSample = b.op("MatMul", [flat, filtT], `${t}/mm`); // [N, A, B]
      const summed = reduceSum(ctx, perSample, [0], false, `${t}/sum`); // [A, B]
      taps.push(b.op("Unsqueeze", [summed, b.ints([2])], t));
    }
  const stacked = b.op("Concat", taps, `${hint}/taps`, { axis: 2 }); // [A, B, k·k]
  const square = b.op("Reshape", [stacked, b.ints([A, B, k, k])], `${hint}/square`);
  return b.op("Transpose", [square], hint, { perm: [1, 0, 2, 3] });
}

const biasGrad = (ctx: VjpContext, g: string, hint: string) => reduceSum(ctx, g, [0, 2, 3], false, hint);

export const CONV_VJPS = {
  Conv: (node, grads, needs, ctx) => {
    const g = gradOf(grads);
    const geo = geometry(node, ctx);
    const h = `${out(node)}/grad`;
    const [, , H = 1] = ctx.b.dims(arg(node, 0));
    const [, , oh = 1] = ctx.b.dims(out(node));
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
      const swapped = swapNC(ctx, arg(node, 1), `${h}/wT`);
      const flipped = ctx.b.op(
        "Gather",
        [ctx.b.op("Gather", [swapped, reversed], `${h}/w_flip_h`, { axis: 2 }), reversed],
        `${h}/w_flip`,
        { axis: 3 },
      );
      const q = k - 1 - p;
      dx = ctx.b.op("Conv", [g, flipped], `${h}/dx`, { pads: [q, q, q, q] });
    } else if (needs[0]) {
      dx = ctx.b.op("ConvTranspose", [g, arg(node, 1)], `${h}/dx`, {
        kernel_shape: [geo.kernel, geo.kernel],
        strides: [geo.stride, geo.stride],
        pads: [p, p, p, p],
        output_padding: [outPad, outPad],
      });
    }
    // Conv weights are [O, C, k, k]: the dilated conv yields [C, O, k, k], swapped back.
    const dw = needs[1]
      ? weightGrad(ctx, [arg(node, 0), ctx.b.dims(arg(node, 0))], [g, ctx.b.dims(out(node))], geo, `${h}/dw`)
      : undefined;
    const db = needs[2] ? biasGrad(ctx, g, `${h}/db`) : undefined;
    return [dx, dw, db];
  },
  ConvTranspose: (node, grads, needs, ctx) => {
    const g = gradOf(grads);
    const geo = geometry(node, ctx);
    const h = `${out(node)}/grad`;
    const p = geo.pad;
    const dx = needs[0]
      ? ctx.b.op("Conv", [g, arg(node, 1)], `${h}/dx`, {
          kernel_shape: [geo.kernel, geo.kernel],
          strides: [geo.stride, geo.stride],
          pads: [p, p, p, p],
        })
      : undefined;
    // ConvTranspose weights are [I, O, k, k]: the dilated conv of gᵀ by xᵀ yields [O, I, k, k].
    const dw = needs[1]
      ? weightGrad(ctx, [g, ctx.b.dims(out(node))], [arg(node, 0), ctx.b.dims(arg(node, 0))], geo, `${h}/dw`)
      : undefined;
    const db = needs[2] ? biasGrad(ctx, g, `${h}/db`) : undefined;
    return [dx, dw, db];
  },
} satisfies VjpRules;
