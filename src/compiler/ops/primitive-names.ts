// The generated modules' primitive of every op (`op.<name>(…)`, src/runtime/tfjs/primitives.ts),
// from the op families' def.ts. `satisfies` makes an op without one a type error. Loads no tfjs.
import type { OpKind } from "../ir/types.ts";
import { ATTENTION_PRIMITIVES } from "./attention/def.ts";
import { CONV_PRIMITIVES } from "./conv/def.ts";
import { ELEMENTWISE_PRIMITIVES } from "./elementwise/def.ts";
import { EMBEDDING_PRIMITIVES } from "./embedding/def.ts";
import { LAYOUT_PRIMITIVES } from "./layout/def.ts";
import { LINEAR_PRIMITIVES } from "./linear/def.ts";
import { NORM_PRIMITIVES } from "./norm/def.ts";
import type { PrimitiveName } from "./op-def.ts";
import { RESAMPLE_PRIMITIVES } from "./resample/def.ts";

/** Ops a generated module calls (inputs are its own parameters). */
export type PrimitiveOp = Exclude<OpKind, "input">;

export const PRIMITIVES = {
  ...CONV_PRIMITIVES,
  ...RESAMPLE_PRIMITIVES,
  ...NORM_PRIMITIVES,
  ...LINEAR_PRIMITIVES,
  ...ELEMENTWISE_PRIMITIVES,
  ...LAYOUT_PRIMITIVES,
  ...EMBEDDING_PRIMITIVES,
  ...ATTENTION_PRIMITIVES,
} as const satisfies { [K in PrimitiveOp]: PrimitiveName };

/** The primitive's function name of each op. */
export type PrimitiveFunction<K extends PrimitiveOp> = (typeof PRIMITIVES)[K]["name"];

/** Ops whose primitive takes only its inputs (no attributes, no parameters). */
export type PlainOp = {
  [K in PrimitiveOp]: (typeof PRIMITIVES)[K] extends { plain: true } ? K : never;
}[PrimitiveOp];
