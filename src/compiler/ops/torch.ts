// IR op → PyTorch source: every op family's emitter in one table (`satisfies` makes an op without
// one a type error). bench/torch/emit.ts assembles the module from it.
import type { OpKind } from "../ir/types.ts";
import { ATTENTION_TORCH } from "./attention/torch.ts";
import { CONV_TORCH } from "./conv/torch.ts";
import { ELEMENTWISE_TORCH } from "./elementwise/torch.ts";
import { EMBEDDING_TORCH } from "./embedding/torch.ts";
import { INPUT_TORCH } from "./input/torch.ts";
import { LAYOUT_TORCH } from "./layout/torch.ts";
import { LINEAR_TORCH } from "./linear/torch.ts";
import { NORM_TORCH } from "./norm/torch.ts";
import { RESAMPLE_TORCH } from "./resample/torch.ts";
import type { TorchEmitter } from "./torch-emitter.ts";

export const TORCH_EMITTERS = {
  ...INPUT_TORCH,
  ...CONV_TORCH,
  ...RESAMPLE_TORCH,
  ...NORM_TORCH,
  ...LINEAR_TORCH,
  ...ELEMENTWISE_TORCH,
  ...LAYOUT_TORCH,
  ...EMBEDDING_TORCH,
  ...ATTENTION_TORCH,
} satisfies { [K in OpKind]: TorchEmitter<K> };

/** The emitter of op `op`. */
export function torchEmitter<K extends OpKind>(op: K): TorchEmitter<K> {
  return TORCH_EMITTERS[op] as TorchEmitter<K>;
}
