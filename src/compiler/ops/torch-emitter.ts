// What a PyTorch emitter is: a function that writes one IR node as lines of a PyTorch module's
// forward() (the bench's reference model, bench/torch/emit.ts) and says the layout of the value
// it made. Values keep the layout their producer gave them (convolutions NCHW, transformer blocks
// channels-last, as PyTorch DiffiT code is written), and emitters call the functions a PyTorch
// user would (F.conv2d, F.linear, F.layer_norm, F.group_norm), so the timing is PyTorch's own.
import type { NodeOf, OpKind } from "../ir/types.ts";

export type ValueLayout = "NCHW" | "NHWC" | "flat";

export interface TorchValue {
  name: string;
  layout: ValueLayout;
}

export interface TorchEmitContext {
  /** The Python name of the node's value. */
  readonly out: string;
  /** Appends a line to forward(). */
  line(text: string): void;
  /** Input `i` as it was produced. */
  input(i: number): TorchValue;
  /** Input `i` in `layout`: rank-4 values are permuted (once per value); flat ones pass through. */
  as(i: number, layout: ValueLayout): string;
  /** The parameter `role` of the node: `p["<name>"]`. */
  param(role: string): string;
  /** The parameter `role`, or `None` when the node has none. */
  optional(role: string): string;
  /** Defines a module-level name once (helper functions, constant tables). */
  define(key: string, text: string): void;
}

export type TorchEmitter<K extends OpKind> = (node: NodeOf<K>, ctx: TorchEmitContext) => ValueLayout;

/** A Python float literal (integers print without a point). */
export const py = (n: number) => (Number.isInteger(n) ? String(n) : n.toPrecision(9));

/** The layout of a per-token op's output: flat stays flat, a grid comes out channels-last. */
export const tokenLayout = (v: TorchValue): ValueLayout => (v.layout === "flat" ? "flat" : "NHWC");
