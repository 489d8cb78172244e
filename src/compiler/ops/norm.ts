// GroupNorm over channels-last grids and LayerNorm over the last axis.
import type { OpDef } from "./op-def.ts";
import { lastDim } from "./op-def.ts";

export const groupNorm: OpDef<"group-norm"> = {
  infer(a, [x]) {
    if (x?.shape.length !== 4) return "group-norm expects [N, H, W, C]";
    if (lastDim(x) !== a.channels) return `group-norm expects ${a.channels} channels, got ${lastDim(x)}`;
    if (a.channels % a.groups !== 0) return `${a.groups} groups do not divide ${a.channels} channels`;
    return x;
  },
  params: (a) => [
    { role: "weight", shape: [a.channels], init: { kind: "ones" } },
    { role: "bias", shape: [a.channels], init: { kind: "zeros" } },
  ],
  macs: () => ({ linear: 0, attention: 0 }),
};

export const layerNorm: OpDef<"layer-norm"> = {
  infer(a, [x]) {
    if (!x) return "missing input";
    if (lastDim(x) !== a.width) return `layer-norm expects width ${a.width}, got ${lastDim(x)}`;
    return x;
  },
  params: (a) =>
    a.affine
      ? [
          { role: "weight", shape: [a.width], init: { kind: "ones" } },
          { role: "bias", shape: [a.width], init: { kind: "zeros" } },
        ]
      : [],
  macs: () => ({ linear: 0, attention: 0 }),
};
