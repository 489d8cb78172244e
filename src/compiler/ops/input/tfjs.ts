// Graph inputs on tfjs: the executor binds them.
import type { TfjsLowering } from "../tfjs-lowering.ts";
import type { InputOp } from "./def.ts";

export const INPUT_TFJS = {
  input: () => {
    throw new Error("inputs are bound by the executor");
  },
} satisfies { [K in InputOp]: TfjsLowering<K> };
