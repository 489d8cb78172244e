// Convolutions on channels-last [N, H, W, C] grids. Kernels are [kh, kw, in, out] in the IR, also
// for transposed convolutions (layout kinds "conv" and "conv-transpose" say how others order them).
import type { WeightInit } from "../../ir/types.ts";
import type { OpDef, PrimitiveName } from "../op-def.ts";
import { expectRank, f32, weightInit, zerosVector } from "../op-def.ts";

export interface ConvAttrs {
  conv2d: {
    kernel: number;
    stride: number;
    padding: number;
    inChannels: number;
    outChannels: number;
    bias: boolean;
    init: WeightInit;
  };
  "conv-transpose2d": {
    kernel: number;
    stride: number;
    padding: number;
    outputPadding: number;
    inChannels: number;
    outChannels: number;
    init: WeightInit;
  };
}

export type ConvOp = keyof ConvAttrs;

const spatial = (n: number, kernel: number, stride: number, padding: number) =>
  Math.floor((n + 2 * padding - kernel) / stride) + 1;

const conv2d: OpDef<"conv2d"> = {
  infer(a, [x]) {
    const bad = expectRank(x, 4, "conv2d input");
    if (bad || !x) return bad ?? "missing input";
    const [n, h, w, c] = x.shape;
    if (c !== a.inChannels) return `conv2d expects ${a.inChannels} input channels, got ${c}`;
    if (typeof h !== "number" || typeof w !== "number") return "conv2d needs static H and W";
    const oh = spatial(h, a.kernel, a.stride, a.padding);
    const ow = spatial(w, a.kernel, a.stride, a.padding);
    if (oh < 1 || ow < 1) return `conv2d output would be empty (${oh}×${ow})`;
    return f32([n ?? "N", oh, ow, a.outChannels]);
  },
  params: (a) => [
    {
      role: "weight",
      shape: [a.kernel, a.kernel, a.inChannels, a.outChannels],
      init: weightInit(a.init, a.kernel * a.kernel * a.inChannels, a.kernel * a.kernel * a.outChannels),
      layout: "conv",
    },
    ...(a.bias ? [zerosVector("bias", a.outChannels)] : []),
  ],
  macs: (a, _in, out) => ({
    linear: Number(out.shape[1]) * Number(out.shape[2]) * a.kernel * a.kernel * a.inChannels * a.outChannels,
    attention: 0,
  }),
};

const convTranspose2d: OpDef<"conv-transpose2d"> = {
  infer(a, [x]) {
    const bad = expectRank(x, 4, "conv-transpose2d input");
    if (bad || !x) return bad ?? "missing input";
    const [n, h, w, c] = x.shape;
    if (c !== a.inChannels) return `conv-transpose2d expects ${a.inChannels} input channels, got ${c}`;
    if (typeof h !== "number" || typeof w !== "number") return "conv-transpose2d needs static H and W";
    const up = (s: number) => (s - 1) * a.stride - 2 * a.padding + a.kernel + a.outputPadding;
    return f32([n ?? "N", up(h), up(w), a.outChannels]);
  },
  params: (a) => [
    {
      role: "weight",
      shape: [a.kernel, a.kernel, a.inChannels, a.outChannels],
      init: weightInit(a.init, a.kernel * a.kernel * a.inChannels, a.kernel * a.kernel * a.outChannels),
      layout: "conv-transpose",
    },
    zerosVector("bias", a.outChannels),
  ],
  // Each input pixel scatters a kernel×kernel patch to every output channel.
  macs: (a, [x]) => ({
    linear: Number(x?.shape[1]) * Number(x?.shape[2]) * a.kernel * a.kernel * a.inChannels * a.outChannels,
    attention: 0,
  }),
};

export const CONV_DEFS = {
  conv2d,
  "conv-transpose2d": convTranspose2d,
} satisfies { [K in ConvOp]: OpDef<K> };

export const CONV_PRIMITIVES = {
  conv2d: { name: "conv2d" },
  "conv-transpose2d": { name: "convTranspose2d" },
} as const satisfies { [K in ConvOp]: PrimitiveName };
