// Graph inputs: x (data), t (noise level or timestep), y (class label). The builder types them;
// each target binds them to its own inputs.
import type { OpDef } from "../op-def.ts";
import { noMacs } from "../op-def.ts";

export interface InputAttrs {
  /** A graph input: x (data), t (noise level or timestep, float), y (class label, int). */
  input: { role: "x" | "t" | "y" };
}

export type InputOp = keyof InputAttrs;

export const INPUT_DEFS = {
  input: {
    infer: () => "inputs are typed by the builder",
    params: () => [],
    macs: noMacs,
  },
} satisfies { [K in InputOp]: OpDef<K> };
