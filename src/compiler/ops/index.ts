// The op registry: every op family's definitions in one table. `satisfies` makes an op without a
// definition a compile error rather than a run-time one. Importing this loads no target (no tfjs).
import type { Node, NodeOf, OpKind, TensorType } from "../ir/types.ts";
import { ATTENTION_DEFS } from "./attention/def.ts";
import { CONV_DEFS } from "./conv/def.ts";
import { ELEMENTWISE_DEFS } from "./elementwise/def.ts";
import { EMBEDDING_DEFS } from "./embedding/def.ts";
import { INPUT_DEFS } from "./input/def.ts";
import { LAYOUT_DEFS } from "./layout/def.ts";
import { LINEAR_DEFS } from "./linear/def.ts";
import { NORM_DEFS } from "./norm/def.ts";
import type { Macs, OpDef } from "./op-def.ts";
import { paramKey } from "./op-def.ts";
import type { ParamLayout } from "./param-layout.ts";
import { RESAMPLE_DEFS } from "./resample/def.ts";

export const OPS = {
  ...INPUT_DEFS,
  ...CONV_DEFS,
  ...RESAMPLE_DEFS,
  ...NORM_DEFS,
  ...LINEAR_DEFS,
  ...ELEMENTWISE_DEFS,
  ...LAYOUT_DEFS,
  ...EMBEDDING_DEFS,
  ...ATTENTION_DEFS,
} satisfies { [K in OpKind]: OpDef<K> };

export function opDef<K extends OpKind>(op: K): OpDef<K> {
  return OPS[op] as OpDef<K>;
}

/** Re-infers a node's output type (used by the IR verifier). */
export function inferNode<K extends OpKind>(
  n: NodeOf<K>,
  inputs: readonly TensorType[],
): TensorType | string {
  return opDef(n.op).infer(n.attrs, inputs);
}

/** A node's per-sample MACs. */
export function nodeMacs<K extends OpKind>(n: NodeOf<K>, inputs: readonly TensorType[]): Macs {
  return opDef(n.op).macs(n.attrs, inputs, n.out);
}

/** The layout kind its op declares for the parameter `role` of `node` (a key of node.params). */
export function paramLayout(node: Node, role: string): ParamLayout {
  const spec = paramSpecs(node).find((p) => paramKey(p) === role);
  if (!spec) throw new Error(`${node.name} (${node.op}) has no parameter ${role}`);
  return spec.layout;
}

function paramSpecs<K extends OpKind>(node: NodeOf<K>) {
  return opDef(node.op).params(node.attrs);
}
