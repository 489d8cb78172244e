// The stable runtime facade of generated TypeScript models (`diffit compile`): one function per IR
// op, each running exactly the tfjs lowering the IR executor runs (the op family's tfjs.ts), so a
// generated `forward` and `TfjsModel.forward` compute the same thing. Inference only: dropout
// passes through.
//
// Every primitive takes the op's IR attributes, its input tensors, and (for ops with parameters)
// its parameters by role, e.g. `conv2d(attrs, [x], { weight, bias })`. The output type comes from
// the op's shape rule on the inputs (batch-first, as every IR value is), as the IR builder infers it.
import type * as tf from "@tensorflow/tfjs";
import type { OpAttrs, TensorType } from "../../compiler/ir/types.ts";
import { opDef } from "../../compiler/ops/index.ts";
import type { PlainOp, PrimitiveFunction, PrimitiveOp } from "../../compiler/ops/primitive-names.ts";
import { tfjsLowering } from "../../compiler/ops/tfjs.ts";

/** An op's parameters by role ("weight", "bias", "qkv.weight", …). */
export type RoleTensors = Readonly<Record<string, tf.Tensor>>;

export type Primitive<K extends PrimitiveOp> = (
  attrs: OpAttrs[K],
  inputs: readonly tf.Tensor[],
  params?: RoleTensors,
) => tf.Tensor;

/** A primitive of an op without attributes or parameters. */
export type PlainPrimitive = (inputs: readonly tf.Tensor[]) => tf.Tensor;

/** The IR type of a runtime value: axis 0 is the batch. */
const typeOf = (t: tf.Tensor): TensorType => ({
  shape: t.shape.map((d, i) => (i === 0 ? "N" : d)),
  dtype: t.dtype === "int32" ? "int32" : "float32",
});

function primitive<K extends PrimitiveOp>(op: K): Primitive<K> {
  const lower = tfjsLowering(op);
  return (attrs, inputs, params = {}) => {
    const out = opDef(op).infer(attrs, inputs.map(typeOf));
    if (typeof out === "string") throw new Error(`${op}: ${out}`);
    const p = (role: string): tf.Tensor => {
      const t = params[role];
      if (!t) throw new Error(`${op} needs parameter ${role}`);
      return t;
    };
    return lower(attrs, [...inputs], p, out, { training: false, seed: 0 });
  };
}

/** Ops without attributes take only their inputs. */
function plain<K extends PlainOp>(op: K): PlainPrimitive {
  const f = primitive(op);
  return (inputs) => f({}, inputs);
}

const FACADE = {
  conv2d: primitive("conv2d"),
  convTranspose2d: primitive("conv-transpose2d"),
  avgPool: primitive("avg-pool"),
  resize: primitive("resize"),
  groupNorm: primitive("group-norm"),
  layerNorm: primitive("layer-norm"),
  linear: primitive("linear"),
  geluTanh: plain("gelu-tanh"),
  silu: plain("silu"),
  add: plain("add"),
  mul: plain("mul"),
  modulate: plain("modulate"),
  dropout: primitive("dropout"),
  concat: primitive("concat"),
  reshape: primitive("reshape"),
  slice: primitive("slice"),
  unpatchify: primitive("unpatchify"),
  addPosition: primitive("add-position"),
  timestepEmbedding: primitive("timestep-embedding"),
  labelEmbedding: primitive("label-embedding"),
  windowAttention: primitive("window-attention"),
} satisfies {
  [K in PrimitiveOp as PrimitiveFunction<K>]: K extends PlainOp ? PlainPrimitive : Primitive<K>;
};

export const {
  conv2d,
  convTranspose2d,
  avgPool,
  resize,
  groupNorm,
  layerNorm,
  linear,
  geluTanh,
  silu,
  add,
  mul,
  /** x · (1 + scale) + shift, inputs [x, shift, scale]. */
  modulate,
  /** Inference: returns its input. */
  dropout,
  concat,
  reshape,
  slice,
  unpatchify,
  addPosition,
  timestepEmbedding,
  labelEmbedding,
  /** TMSA: inputs [tokens, time token]. */
  windowAttention,
} = FACADE;
