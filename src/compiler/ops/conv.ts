// Convolutions and resolution changes on channels-last [N, H, W, C] grids.
import type { OpDef } from "./op-def.ts";
import { expectRank, f32, lastDim, noMacs, noParams, weightInit } from "./op-def.ts";

const spatial = (n: number, kernel: number, stride: number, padding: number) =>
  Math.floor((n + 2 * padding - kernel) / stride) + 1;

export const conv2d: OpDef<"conv2d"> = {
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
    },
    ...(a.bias ? [{ role: "bias", shape: [a.outChannels], init: { kind: "zeros" as const } }] : []),
  ],
  macs: (a, _in, out) => ({
    linear: Number(out.shape[1]) * Number(out.shape[2]) * a.kernel * a.kernel * a.inChannels * a.outChannels,
    attention: 0,
  }),
};

export const convTranspose2d: OpDef<"conv-transpose2d"> = {
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
    },
    { role: "bias", shape: [a.outChannels], init: { kind: "zeros" } },
  ],
  // Each input pixel scatters a kernel×kernel patch to every output channel.
  macs: (a, [x]) => ({
    linear: Number(x?.shape[1]) * Number(x?.shape[2]) * a.kernel * a.kernel * a.inChannels * a.outChannels,
    attention: 0,
  }),
};

export const avgPool: OpDef<"avg-pool"> = {
  infer(a, [x]) {
    const bad = expectRank(x, 4, "avg-pool input");
    if (bad || !x) return bad ?? "missing input";
    const [n, h, w] = x.shape;
    if (typeof h !== "number" || typeof w !== "number" || h % a.size || w % a.size) {
      return `avg-pool ${a.size} needs H and W divisible by ${a.size}, got ${h}×${w}`;
    }
    return f32([n ?? "N", h / a.size, w / a.size, lastDim(x) ?? 0]);
  },
  params: noParams,
  macs: noMacs,
};

export const resize: OpDef<"resize"> = {
  infer(a, [x]) {
    const bad = expectRank(x, 4, "resize input");
    if (bad || !x) return bad ?? "missing input";
    const [n, h, w, c] = x.shape;
    if (typeof h !== "number" || typeof w !== "number") return "resize needs static H and W";
    return f32([n ?? "N", h * a.scale, w * a.scale, c ?? 0]);
  },
  params: noParams,
  macs: noMacs,
};
