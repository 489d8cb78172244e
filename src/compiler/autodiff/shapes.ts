// Static shapes of every value of an ONNX graph built by OnnxGraphBuilder. The training graph
// has a fixed batch, so every dimension is a number; the VJP rules need them to undo
// broadcasting and to size convolution backprops. One rule per op type the lowering emits.
import type { OnnxGraphBuilder } from "../emit/onnx/graph-builder.ts";
import type { NodeProto } from "../emit/onnx/proto.ts";
import { attrInt, attrInts, input, smallConstants } from "./onnx-attrs.ts";

export type Dims = readonly number[];

const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

export function broadcastDims(a: Dims, b: Dims): Dims {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`[${a}] and [${b}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

export class ShapeTable {
  private readonly shapes = new Map<string, Dims>();
  readonly ints: Map<string, number[]>;

  constructor(b: OnnxGraphBuilder, graphInputs: ReadonlyMap<string, Dims>) {
    this.ints = smallConstants(b);
    for (const i of b.initializers) this.shapes.set(i.name, i.dims);
    for (const [name, dims] of graphInputs) this.shapes.set(name, dims);
    for (const node of b.nodes) this.record(node);
  }

  get(name: string): Dims {
    const s = this.shapes.get(name);
    if (!s) throw new Error(`no static shape for ${name}`);
    return s;
  }

  /** A value created after the table was built (a rule's extra output). */
  declare(name: string, dims: Dims): void {
    this.shapes.set(name, dims);
  }

  has(name: string): boolean {
    return this.shapes.has(name);
  }

  /** The values of a small constant input (Reshape shapes, axes, pads, Resize scales). */
  constant(name: string): number[] {
    const v = this.ints.get(name);
    if (!v) throw new Error(`${name} is not a constant`);
    return v;
  }

  private record(node: NodeProto): void {
    this.infer(node).forEach((d, i) => {
      const name = node.output?.[i];
      if (name) this.shapes.set(name, d); // optional outputs may be absent
    });
  }

  /** The shapes of the node's outputs. */
  private infer(node: NodeProto): Dims[] {
    const out = (...dims: Dims[]) => dims;
    const at = (i: number) => this.get(input(node, i));
    const x = () => at(0);
    switch (node.opType) {
      case "Identity":
      case "Sigmoid":
      case "Tanh":
      case "Sqrt":
      case "Log":
      case "Exp":
      case "Sin":
      case "Cos":
      case "Neg":
      case "Relu":
      case "Softmax":
      case "Reciprocal":
      case "Cast":
      case "Erf":
      case "Gelu":
        return out(x());
      case "Add":
      case "Sub":
      case "Mul":
      case "Div":
      case "Pow":
      case "Greater":
      case "Less":
      case "GreaterOrEqual":
      case "Max":
      case "Min":
      case "Sum":
      case "Where":
        return out((node.input ?? []).map((n) => this.get(n)).reduce(broadcastDims));
      case "Transpose": {
        const s = x();
        const perm = attrInts(node, "perm") ?? s.map((_, i) => s.length - 1 - i);
        return out(perm.map((p) => s[p] ?? 1));
      }
      case "Reshape": {
        const s = x();
        const total = s.reduce((a, b) => a * b, 1);
        const spec = this.constant(input(node, 1)).map((d, i) => (d === 0 ? (s[i] ?? 1) : d));
        const known = spec.reduce((a, d) => (d === -1 ? a : a * d), 1);
        return out(spec.map((d) => (d === -1 ? total / known : d)));
      }
      case "Unsqueeze": {
        const s = [...x()];
        const axes = this.constant(input(node, 1)).map((a) => norm(a, s.length + 1));
        for (const a of [...axes].sort((p, q) => p - q)) s.splice(a, 0, 1);
        return out(s);
      }
      case "MatMul": {
        const a = x();
        const b = at(1);
        const batch = broadcastDims(a.slice(0, -2), b.slice(0, -2));
        return out([...batch, a[a.length - 2] ?? 1, b[b.length - 1] ?? 1]);
      }
      case "Gemm": {
        const a = x();
        const b = at(1);
        const m = attrInt(node, "transA", 0) ? a[1] : a[0];
        const n = attrInt(node, "transB", 0) ? b[0] : b[1];
        return out([m ?? 1, n ?? 1]);
      }
      case "Gather": {
        const s = x();
        const axis = norm(attrInt(node, "axis", 0), s.length);
        return out([...s.slice(0, axis), ...at(1), ...s.slice(axis + 1)]);
      }
      case "ReduceMean":
      case "ReduceSum":
      case "ReduceSumSquare": {
        const s = x();
        const axesIn = node.input?.[1];
        const axes = (axesIn ? this.constant(axesIn) : (attrInts(node, "axes") ?? s.map((_, i) => i))).map(
          (a) => norm(a, s.length),
        );
        const keep = attrInt(node, "keepdims", 1) === 1;
        return out(
          keep ? s.map((d, i) => (axes.includes(i) ? 1 : d)) : s.filter((_, i) => !axes.includes(i)),
        );
      }
      case "Conv":
      case "ConvTranspose":
      case "AveragePool":
        return out(this.spatial(node));
      case "LayerNormalization": {
        const s = x();
        const axis = norm(attrInt(node, "axis", -1), s.length);
        const stats = s.map((d, i) => (i < axis ? d : 1));
        return out(s, stats, stats);
      }
      case "Concat": {
        const ins = (node.input ?? []).map((n) => this.get(n));
        const first = ins[0] ?? [];
        const axis = norm(attrInt(node, "axis", 0), first.length);
        return out(first.map((d, i) => (i === axis ? ins.reduce((acc, s) => acc + (s[i] ?? 0), 0) : d)));
      }
      case "Slice": {
        const s = [...x()];
        const starts = this.constant(input(node, 1));
        const ends = this.constant(input(node, 2));
        const axes = node.input?.[3] ? this.constant(input(node, 3)) : starts.map((_, i) => i);
        axes.forEach((a0, i) => {
          const a = norm(a0, s.length);
          const d = s[a] ?? 1;
          const clamp = (v: number) => Math.max(0, Math.min(d, v < 0 ? v + d : v));
          s[a] = clamp(ends[i] ?? d) - clamp(starts[i] ?? 0);
        });
        return out(s);
      }
      case "Pad": {
        const s = x();
        const pads = this.constant(input(node, 1));
        return out(s.map((d, i) => d + (pads[i] ?? 0) + (pads[i + s.length] ?? 0)));
      }
      case "Expand":
        return out(broadcastDims(x(), this.constant(input(node, 1))));
      case "Resize": {
        const scales = this.constant(input(node, 2));
        return out(x().map((d, i) => Math.floor(d * (scales[i] ?? 1))));
      }
      case "OneHot": {
        const depth = this.constant(input(node, 1))[0] ?? 0;
        return out([...x(), depth]);
      }
      default:
        throw new Error(`no shape rule for ONNX ${node.opType} (${node.name})`);
    }
  }

  /** Output dims of Conv / ConvTranspose / AveragePool on NCHW inputs. */
  private spatial(node: NodeProto): Dims {
    const [n = 1, c = 1, ...hw] = this.get(input(node, 0));
    const w = node.opType === "AveragePool" ? undefined : this.get(input(node, 1));
    const kernel = attrInts(node, "kernel_shape") ?? w?.slice(2) ?? [];
    const strides = attrInts(node, "strides") ?? hw.map(() => 1);
    const pads = attrInts(node, "pads") ?? [...hw, ...hw].map(() => 0);
    const dil = attrInts(node, "dilations") ?? hw.map(() => 1);
    const outPad = attrInts(node, "output_padding") ?? hw.map(() => 0);
    const sizes = hw.map((d, i) => {
      const k = ((kernel[i] ?? 1) - 1) * (dil[i] ?? 1) + 1;
      const s = strides[i] ?? 1;
      const p = (pads[i] ?? 0) + (pads[i + hw.length] ?? 0);
      return node.opType === "ConvTranspose"
        ? (d - 1) * s - p + k + (outPad[i] ?? 0)
        : Math.floor((d + p - k) / s) + 1;
    });
    const channels = node.opType === "Conv" ? w?.[0] : node.opType === "ConvTranspose" ? w?.[1] : c;
    return [n, channels ?? c, ...sizes];
  }
}
