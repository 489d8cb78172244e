// The type of the VJP table: one rule per tensor op, each typed by its op's node.
import type { TensorOpKind } from "../../tensor/ops.ts";
import type { VjpRule } from "../vjp.ts";

export type VjpRules = { [K in TensorOpKind]?: VjpRule<K> };
