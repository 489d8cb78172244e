// Resolution changes on channels-last [N, H, W, C] grids without parameters: average pooling and
// up-sampling (nearest, or bilinear with half-pixel centres).
import type { OpDef, PrimitiveName } from "../op-def.ts";
import { expectRank, f32, lastDim, noMacs, noParams } from "../op-def.ts";

export interface ResampleAttrs {
  "avg-pool": { size: number };
  resize: { mode: "nearest" | "bilinear"; scale: number };
}

export type ResampleOp = keyof ResampleAttrs;

export const RESAMPLE_DEFS = {
  "avg-pool": {
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
  },
  resize: {
    infer(a, [x]) {
      const bad = expectRank(x, 4, "resize input");
      if (bad || !x) return bad ?? "missing input";
      const [n, h, w, c] = x.shape;
      if (typeof h !== "number" || typeof w !== "number") return "resize needs static H and W";
      return f32([n ?? "N", h * a.scale, w * a.scale, c ?? 0]);
    },
    params: noParams,
    macs: noMacs,
  },
} satisfies { [K in ResampleOp]: OpDef<K> };

export const RESAMPLE_PRIMITIVES = {
  "avg-pool": { name: "avgPool" },
  resize: { name: "resize" },
} as const satisfies { [K in ResampleOp]: PrimitiveName };
