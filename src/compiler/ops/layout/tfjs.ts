// Data movement on tfjs.
import * as tf from "@tensorflow/tfjs";
import { dimsOf, first, type TfjsLowering, x4 } from "../tfjs-lowering.ts";
import type { LayoutOp } from "./def.ts";

export const LAYOUT_TFJS = {
  concat: (a, ins) => tf.concat(ins, a.axis),
  reshape: (a, ins) =>
    tf.reshape(
      first(ins),
      a.shape.map((d) => (d === "N" ? -1 : d)),
    ),
  slice: (a, ins) => {
    const x = first(ins);
    const axis = a.axis < 0 ? a.axis + x.rank : a.axis;
    const begin = x.shape.map((_, i) => (i === axis ? a.start : 0));
    const size = x.shape.map((d, i) => (i === axis ? a.size : d));
    return tf.slice(x, begin, size);
  },
  unpatchify: (a, ins, _p, out) => {
    const x = x4(ins);
    const [nb, h, w] = x.shape;
    const { patch, channels } = a;
    // Each token's features are ordered (row-in-patch, column-in-patch, channel) [OFF].
    const grid = tf.reshape(x, [nb, h, w, patch, patch, channels]);
    return tf.reshape(tf.transpose(grid, [0, 1, 3, 2, 4, 5]), dimsOf(out, nb));
  },
} satisfies { [K in LayoutOp]: TfjsLowering<K> };
