// GroupNorm over channels-last [N, H, W, C] grids (statistics per sample and group of C/G
// channels) and LayerNorm over the last axis.
import type { OpDef, PrimitiveName } from "../op-def.ts";
import { lastDim, noMacs } from "../op-def.ts";

export interface NormAttrs {
  "group-norm": { groups: number; channels: number; eps: number };
  "layer-norm": { width: number; eps: number; affine: boolean };
}

export type NormOp = keyof NormAttrs;

export const NORM_DEFS = {
  "group-norm": {
    infer(a, [x]) {
      if (x?.shape.length !== 4) return "group-norm expects [N, H, W, C]";
      if (lastDim(x) !== a.channels) return `group-norm expects ${a.channels} channels, got ${lastDim(x)}`;
      if (a.channels % a.groups !== 0) return `${a.groups} groups do not divide ${a.channels} channels`;
      return x;
    },
    params: (a) => [
      { role: "weight", shape: [a.channels], init: { kind: "ones" }, layout: "vector" },
      { role: "bias", shape: [a.channels], init: { kind: "zeros" }, layout: "vector" },
    ],
    macs: noMacs,
  },
  "layer-norm": {
    infer(a, [x]) {
      if (!x) return "missing input";
      if (lastDim(x) !== a.width) return `layer-norm expects width ${a.width}, got ${lastDim(x)}`;
      return x;
    },
    params: (a) =>
      a.affine
        ? [
            { role: "weight", shape: [a.width], init: { kind: "ones" }, layout: "vector" },
            { role: "bias", shape: [a.width], init: { kind: "zeros" }, layout: "vector" },
          ]
        : [],
    macs: noMacs,
  },
} satisfies { [K in NormOp]: OpDef<K> };

export const NORM_PRIMITIVES = {
  "group-norm": { name: "groupNorm" },
  "layer-norm": { name: "layerNorm" },
} as const satisfies { [K in NormOp]: PrimitiveName };
