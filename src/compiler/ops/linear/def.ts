// A dense layer over the last axis: y = x·W + b with W as [in, out] (layout kind "linear").
import type { WeightInit } from "../../ir/types.ts";
import type { OpDef, PrimitiveName } from "../op-def.ts";
import { f32, lastDim, perSample, weightInit, zerosVector } from "../op-def.ts";

export interface LinearAttrs {
  linear: { inFeatures: number; outFeatures: number; bias: boolean; init: WeightInit };
}

export type LinearOp = keyof LinearAttrs;

export const LINEAR_DEFS = {
  linear: {
    infer(a, [x]) {
      if (!x) return "missing input";
      if (lastDim(x) !== a.inFeatures) return `linear expects last axis ${a.inFeatures}, got ${lastDim(x)}`;
      return f32([...x.shape.slice(0, -1), a.outFeatures]);
    },
    params: (a) => [
      {
        role: "weight",
        shape: [a.inFeatures, a.outFeatures],
        init: weightInit(a.init, a.inFeatures, a.outFeatures),
        layout: "linear",
      },
      ...(a.bias ? [zerosVector("bias", a.outFeatures)] : []),
    ],
    macs: (a, [x]) => ({
      linear: (x ? perSample(x.shape) / a.inFeatures : 0) * a.inFeatures * a.outFeatures,
      attention: 0,
    }),
  },
} satisfies { [K in LinearOp]: OpDef<K> };

export const LINEAR_PRIMITIVES = {
  linear: { name: "linear" },
} as const satisfies { [K in LinearOp]: PrimitiveName };
