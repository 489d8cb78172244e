// Runs a tensor-tier graph (src/compiler/tensor) on tfjs, op by op. The ONNX renderer is the
// production target of the tier; this second target shows that what the compiler builds there,
// backward passes included, is target-neutral IR, and lets tests check the VJP rules on tfjs
// itself. Layouts are the graph's own (NCHW around convolutions): tfjs's NHWC kernels are
// wrapped in transposes.
import * as tf from "@tensorflow/tfjs";
import { DataType, type Initializer, type TensorGraph } from "../../compiler/tensor/graph.ts";
import { broadcastDims, type TensorNode } from "../../compiler/tensor/ops.ts";

type Env = Map<string, tf.Tensor>;

function storedTensor(i: Initializer): tf.Tensor {
  const copy = i.bytes.slice();
  switch (i.dataType) {
    case DataType.FLOAT:
      return tf.tensor(new Float32Array(copy.buffer), i.dims, "float32");
    case DataType.INT64:
      return tf.tensor(Int32Array.from(new BigInt64Array(copy.buffer), Number), i.dims, "int32");
    case DataType.INT32:
      return tf.tensor(new Int32Array(copy.buffer), i.dims, "int32");
    default:
      throw new Error(`the tfjs interpreter cannot load ${i.name} (data type ${i.dataType})`);
  }
}

const nchwToNhwc = (x: tf.Tensor) => tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D;
const nhwcToNchw = (x: tf.Tensor) => tf.transpose(x, [0, 3, 1, 2]) as tf.Tensor4D;

/** Zero insertion between pixels (a stride-s transposed convolution's input spacing), NHWC. */
function dilate(x: tf.Tensor4D, s: number): tf.Tensor4D {
  if (s === 1) return x;
  const [n, h, w, c] = x.shape;
  const spaced = tf.pad(tf.reshape(x, [n, h, 1, w, 1, c]), [
    [0, 0],
    [0, 0],
    [0, s - 1],
    [0, 0],
    [0, s - 1],
    [0, 0],
  ]);
  const full = tf.reshape(spaced, [n, h * s, w * s, c]) as tf.Tensor4D;
  return tf.slice(full, [0, 0, 0, 0], [n, (h - 1) * s + 1, (w - 1) * s + 1, c]);
}

type OneToOne =
  | "Identity"
  | "Neg"
  | "Sqrt"
  | "Exp"
  | "Log"
  | "Sin"
  | "Cos"
  | "Tanh"
  | "Sigmoid"
  | "Add"
  | "Sub"
  | "Mul"
  | "Div"
  | "Greater"
  | "Less"
  | "GreaterOrEqual";

/** Ops that are one tfjs function of their inputs (numpy broadcasting on both sides). */
const ONE_TO_ONE: Record<OneToOne, (...xs: tf.Tensor[]) => tf.Tensor> = {
  Identity: (a) => a as tf.Tensor,
  Neg: tf.neg,
  Sqrt: tf.sqrt,
  Exp: tf.exp,
  Log: tf.log,
  Sin: tf.sin,
  Cos: tf.cos,
  Tanh: tf.tanh,
  Sigmoid: tf.sigmoid,
  Add: tf.add,
  Sub: tf.sub,
  Mul: tf.mul,
  Div: tf.div,
  Greater: tf.greater,
  Less: tf.less,
  GreaterOrEqual: tf.greaterEqual,
};

function run(node: TensorNode, v: (i: number) => tf.Tensor, ints: (i: number) => number[], g: TensorGraph) {
  const x = () => v(0);
  const outDims = () => g.dims(node.outputs[0] ?? "");
  switch (node.op) {
    case "Gelu": {
      const a = x();
      const u = tf.mul(tf.add(a, tf.mul(tf.pow(a, 3), 0.044715)), Math.sqrt(2 / Math.PI));
      return [tf.mul(tf.mul(a, 0.5), tf.add(tf.tanh(u), 1))];
    }
    case "Softmax": {
      const a = x();
      const axis = node.attrs.axis < 0 ? node.attrs.axis + a.rank : node.attrs.axis;
      if (axis === a.rank - 1) return [tf.softmax(a)];
      const perm = [...Array.from({ length: a.rank }, (_, i) => i).filter((i) => i !== axis), axis];
      const back = perm.map((_, i) => perm.indexOf(i));
      return [tf.transpose(tf.softmax(tf.transpose(a, perm)), back)];
    }
    case "Cast":
      return [tf.cast(x(), node.attrs.to === 1 ? "float32" : node.attrs.to === 9 ? "bool" : "int32")];
    case "Max":
      return [node.inputs.slice(1).reduce((acc, _, i) => tf.maximum(acc, v(i + 1)), x())];
    case "Sum":
      return [node.inputs.slice(1).reduce((acc, _, i) => tf.add(acc, v(i + 1)), x())];
    case "Where": {
      const shape = [...outDims()];
      return [
        tf.where(
          tf.broadcastTo(tf.cast(x(), "bool"), shape),
          tf.broadcastTo(v(1), shape),
          tf.broadcastTo(v(2), shape),
        ),
      ];
    }
    case "MatMul": {
      const [a, b] = [x(), v(1)];
      if (a.rank === 2 && b.rank === 2) return [tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D)];
      const batch = [...broadcastDims(a.shape.slice(0, -2), b.shape.slice(0, -2))];
      const lift = (t: tf.Tensor) => tf.broadcastTo(t, [...batch, ...t.shape.slice(-2)]);
      return [tf.matMul(lift(a), lift(b))];
    }
    case "Gemm":
      return [tf.matMul(x() as tf.Tensor2D, v(1) as tf.Tensor2D, !!node.attrs.transA, !!node.attrs.transB)];
    case "Conv": {
      const a = node.attrs;
      const p = a.pads ?? [0, 0, 0, 0];
      const w = tf.transpose(v(1), [2, 3, 1, 0]) as tf.Tensor4D; // OIHW → HWIO
      const y = tf.conv2d(
        nchwToNhwc(x()),
        w,
        (a.strides ?? [1, 1]) as [number, number],
        [
          [0, 0],
          [p[0] ?? 0, p[2] ?? 0],
          [p[1] ?? 0, p[3] ?? 0],
          [0, 0],
        ],
        "NHWC",
        (a.dilations ?? [1, 1]) as [number, number],
      );
      const biased = node.inputs[2] ? tf.add(y, v(2)) : y;
      return [nhwcToNchw(biased)];
    }
    case "ConvTranspose": {
      // A stride-s transposed convolution is a stride-1 convolution of the zero-spaced input by
      // the flipped kernel, padded k − 1 − p (plus output_padding at the end).
      const a = node.attrs;
      const wIn = v(1); // [I, O, kh, kw]
      const k = wIn.shape[2] ?? 1;
      const s = a.strides?.[0] ?? 1;
      const p = a.pads?.[0] ?? 0;
      const op = a.output_padding?.[0] ?? 0;
      const flipped = tf.reverse(tf.transpose(wIn, [2, 3, 0, 1]), [0, 1]) as tf.Tensor4D; // [kh, kw, I, O]
      const q = k - 1 - p;
      const spaced = dilate(nchwToNhwc(x()), s);
      const y = tf.conv2d(spaced, flipped, 1, [
        [0, 0],
        [q, q + op],
        [q, q + op],
        [0, 0],
      ]);
      const biased = node.inputs[2] ? tf.add(y, v(2)) : y;
      return [nhwcToNchw(biased)];
    }
    case "AveragePool": {
      const k = node.attrs.kernel_shape as [number, number];
      return [nhwcToNchw(tf.avgPool(nchwToNhwc(x()), k, (node.attrs.strides ?? k) as [number, number], 0))];
    }
    case "Resize": {
      const [, , h = 1, w = 1] = outDims();
      const img = nchwToNhwc(x());
      const y =
        node.attrs.mode === "nearest"
          ? tf.image.resizeNearestNeighbor(img, [h, w], false, false)
          : tf.image.resizeBilinear(img, [h, w], false, true);
      return [nhwcToNchw(y)];
    }
    case "Reshape":
    case "Unsqueeze":
      return [tf.reshape(x(), [...outDims()])];
    case "Expand":
      return [tf.broadcastTo(x(), [...outDims()])];
    case "Transpose":
      return [tf.transpose(x(), node.attrs.perm)];
    case "Concat":
      return [
        tf.concat(
          node.inputs.map((_, i) => v(i)),
          node.attrs.axis,
        ),
      ];
    case "Split":
      return tf.split(x(), ints(1), node.attrs.axis);
    case "Slice": {
      const a = x();
      const starts = ints(1);
      const ends = ints(2);
      const axes = node.inputs[3] ? ints(3) : starts.map((_, i) => i);
      const steps = node.inputs[4] ? ints(4) : starts.map(() => 1);
      const begin = a.shape.map(() => 0);
      const end = [...a.shape];
      const stride = a.shape.map(() => 1);
      axes.forEach((ax0, i) => {
        const ax = ax0 < 0 ? ax0 + a.rank : ax0;
        const d = a.shape[ax] ?? 1;
        const clamp = (t: number) => Math.max(0, Math.min(d, t < 0 ? t + d : t));
        begin[ax] = clamp(starts[i] ?? 0);
        end[ax] = clamp(ends[i] ?? d);
        stride[ax] = steps[i] ?? 1;
      });
      return [tf.stridedSlice(a, begin, end, stride)];
    }
    case "Gather": {
      const a = x();
      const axis = node.attrs.axis < 0 ? node.attrs.axis + a.rank : node.attrs.axis;
      const idx = tf.cast(v(1), "int32");
      if (idx.rank === 0) return [tf.squeeze(tf.gather(a, tf.reshape(idx, [1]), axis), [axis])];
      return [tf.gather(a, idx, axis)];
    }
    case "Pad": {
      const pads = ints(1);
      const r = x().rank;
      return [
        tf.pad(
          x(),
          Array.from({ length: r }, (_, i) => [pads[i] ?? 0, pads[i + r] ?? 0] as [number, number]),
        ),
      ];
    }
    case "ReduceMean":
    case "ReduceSum":
    case "ReduceSumSquare": {
      const a = node.op === "ReduceSumSquare" ? tf.square(x()) : x();
      const axes = node.inputs[1] ? ints(1) : Array.from({ length: a.rank }, (_, i) => i);
      const keep = node.attrs.keepdims === 1;
      return [node.op === "ReduceMean" ? tf.mean(a, axes, keep) : tf.sum(a, axes, keep)];
    }
    case "LayerNormalization": {
      const a = x();
      const axis = node.attrs.axis < 0 ? node.attrs.axis + a.rank : node.attrs.axis;
      const axes = Array.from({ length: a.rank - axis }, (_, i) => axis + i);
      const { mean, variance } = tf.moments(a, axes, true);
      const inv = tf.rsqrt(tf.add(variance, node.attrs.epsilon));
      const scaled = tf.mul(tf.mul(tf.sub(a, mean), inv), v(1));
      return [node.inputs[2] ? tf.add(scaled, v(2)) : scaled, mean, inv];
    }
    case "OneHot": {
      const [off = 0, on = 1] = Array.from(v(2).dataSync());
      const hot = tf.oneHot(tf.cast(x(), "int32"), ints(1)[0] ?? 0, on, off);
      return [tf.cast(hot, "float32")];
    }
    default: {
      // Every op not handled above must be one-to-one: a type error otherwise.
      const op: OneToOne = node.op;
      return [ONE_TO_ONE[op](...node.inputs.map((_, i) => v(i)))];
    }
  }
}

/**
 * Evaluates `outputs` of graph `g` from `feeds` (every graph input the outputs depend on).
 * Returned tensors belong to the caller; everything else is disposed.
 */
export function runTensorGraph(g: TensorGraph, feeds: Record<string, tf.Tensor>, outputs: readonly string[]) {
  return tf.tidy(() => {
    const env: Env = new Map(Object.entries(feeds));
    for (const init of g.initializers) env.set(init.name, storedTensor(init));
    for (const node of g.nodes) {
      const value = (i: number) => {
        const t = env.get(node.inputs[i] ?? "");
        if (!t) throw new Error(`${node.name} reads ${node.inputs[i]}, which has no value`);
        return t;
      };
      const ints = (i: number) => g.valuesOf(node.inputs[i] ?? "");
      let results: tf.Tensor[];
      try {
        results = run(node, value, ints, g);
      } catch (e) {
        throw new Error(`${node.op} ${node.name} on tfjs: ${(e as Error).message}`);
      }
      node.outputs.forEach((o, i) => {
        const r = results[i];
        if (r) env.set(o, r);
      });
    }
    return outputs.map((o) => {
      const t = env.get(o);
      if (!t) throw new Error(`the graph computes no ${o}`);
      return t;
    });
  });
}
