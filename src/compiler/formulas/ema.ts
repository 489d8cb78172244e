// The exponential moving average of the weights, the ones that sample best [EDM, DiT], written
// once for every engine (./scalar-ops.ts).
import type { ScalarOps } from "./scalar-ops.ts";

/** ema ← d·ema + (1 − d)·w. */
export const emaUpdate = <T>(ops: ScalarOps<T>, decay: number, ema: T, w: T): T =>
  ops.add(ops.mul(ema, decay), ops.mul(w, 1 - decay));
