// Reverse-mode differentiation (src/compiler/autodiff) against tfjs autodiff on the cpu backend.
// The backward pass is tensor-tier IR, so each check runs it on both of the tier's targets: the
// ONNX rendering on onnxruntime and the tfjs interpreter (runtime/tfjs/tensor-interpreter.ts).
// 1. Whole networks: the compiled training step's gradient of the EDM or ADM loss for small specs
//    that together use every model IR op, against tf.variableGrads of the tfjs model.
// 2. Single tensor ops, one per VJP rule that no network exercises (the time path is never
//    differentiated); together the two cover every rule with a gradient (last test).
// Tolerance: max |onnx − tfjs| ≤ 1e-4 · max |tfjs| per tensor. Both sides are float32 and sum
// thousands of terms in different orders (MLAS vs tfjs kernels), which measures ~1e-6 here;
// a wrong rule is off by O(1), so 1e-4 separates the two with room on either side.
import * as tf from "@tensorflow/tfjs";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { appendBackward } from "../src/compiler/autodiff/reverse.ts";
import { VJP_RULES } from "../src/compiler/autodiff/rules/index.ts";
import { noGradient } from "../src/compiler/autodiff/vjp.ts";
import { DataType, onnx } from "../src/compiler/emit/onnx/proto.ts";
import { renderGraph, tensorProto } from "../src/compiler/emit/onnx/render.ts";
import { buildGraph } from "../src/compiler/ir/build.ts";
import type { OpKind, ParamDef } from "../src/compiler/ir/types.ts";
import { OPS } from "../src/compiler/ops/index.ts";
import { TensorGraph } from "../src/compiler/tensor/graph.ts";
import type { TensorOpAttrs, TensorOpKind } from "../src/compiler/tensor/ops.ts";
import { emitTrainStep, gradOutput } from "../src/compiler/training/train-step.ts";
import { ddpmLoss, GaussianDiffusion } from "../src/runtime/diffusion/ddpm.ts";
import { type EdmConfig, edmLoss, type Network } from "../src/runtime/diffusion/edm.ts";
import { initialValues } from "../src/runtime/init.ts";
import { Rng } from "../src/runtime/random.ts";
import { TfjsModel } from "../src/runtime/tfjs/model.ts";
import { runTensorGraph } from "../src/runtime/tfjs/tensor-interpreter.ts";
import { admFeeds, DropoutMasks, OnnxTrainState } from "../src/runtime/training/onnx-engine.ts";
import { entryOf, relativeError, tinyLatent } from "./helpers/parity.ts";

const TOLERANCE = 1e-4;

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const image = (name: string, extra: Record<string, unknown>) => ({
  family: "image",
  name,
  input: { size: 8, channels: 1 },
  stages: [
    { channels: 8, depth: 1, windowSize: 4, heads: 2, mlpRatio: 2 },
    { channels: 8, depth: 1, windowSize: 2, heads: 2, mlpRatio: 2 },
  ],
  groupNormGroups: 4,
  time: { sinusoidDim: 8, tokenDim: 16 },
  conditioning: { classes: 3 },
  ...extra,
});

const CASES: Record<string, Record<string, unknown>> = {
  "image tmsa, conv down, conv-transpose up, add skips": image("a", {}),
  "image adaln, avg-pool down, nearest up, concat skips, conv head, Fourier time, plain LayerNorm": image(
    "b",
    {
      attention: { mode: "adaln" },
      downsampler: "avgpool",
      upsampler: "nearest-conv",
      skip: "concat",
      head: "conv",
      time: { embedding: "fourier", sinusoidDim: 8, tokenDim: 16 },
      layerNorm: { affine: false },
    },
  ),
  "image time-in-bias, decoder bottleneck, dropout 0.2": image("c", {
    attention: { mode: "time-in-bias" },
    decoderBottleneck: true,
    dropout: 0.2,
  }),
  "image, VP preconditioning, bilinear up-sampling": image("vp", {
    diffusion: { kind: "edm", preconditioning: "vp" },
    upsampler: "bilinear-conv",
  }),
  "image, VE preconditioning": image("ve", { diffusion: { kind: "edm", preconditioning: "ve" } }),
  "image time-in-mlp, unconditional": image("d", {
    attention: { mode: "time-in-mlp" },
    conditioning: { classes: 0 },
  }),
  "image time-independent, no relative bias": image("e", {
    attention: { mode: "time-independent", relativePositionBias: false, qkvBias: false },
  }),
  "latent adaln, learned positions": tinyLatent("f", {
    learnSigma: false,
    positionEmbedding: "learned",
    diffusion: { kind: "edm" },
    sampling: { sampler: "heun" },
  }),
  "latent ADM: learned-range variance, hybrid loss (ε-MSE + VB with stop-gradient)": tinyLatent("h", {
    learnSigma: true,
    diffusion: { kind: "ddpm", steps: 50, variance: "learned-range", loss: "hybrid" },
  }),
  "latent tmsa window, sin-cos positions": tinyLatent("g", {
    window: 2,
    learnSigma: false,
    attention: { mode: "tmsa" },
    diffusion: { kind: "edm" },
    sampling: { sampler: "heun" },
  }),
};

/** Worst per-tensor error of the compiled gradient against tfjs, and the IR ops it covered. */
async function compareNetwork(value: Record<string, unknown>) {
  const entry = entryOf(value);
  const diffusion = entry.spec.diffusion;
  const graph = buildGraph(entry.spec);
  const B = 3;
  const step = emitTrainStep(graph, diffusion, {
    batch: B,
    optimizer: "adam",
    betas: [0.9, 0.999],
    eps: 1e-8,
    weightDecay: 0,
    gradClip: null,
    emaDecay: 0.9,
    exposeGradients: true,
  });
  const session = await ort.InferenceSession.create(step.bytes, { intraOpNumThreads: 1 });
  const [, C, H, W] = step.imageDims;
  const rng = new Rng(7, entry.name);
  const n = B * C * H * W;
  // Channels-last for tfjs; the ONNX graph takes NCHW (equal layouts only when C = 1).
  const x = Float32Array.from({ length: n }, () => Math.tanh(rng.normal()));
  const noise = Float32Array.from({ length: n }, () => rng.normal());
  const nchw = (v: Float32Array) => {
    const out = new Float32Array(n);
    for (let b = 0; b < B; b++)
      for (let i = 0; i < H * W; i++)
        for (let c = 0; c < C; c++) out[(b * C + c) * H * W + i] = v[(b * H * W + i) * C + c] ?? 0;
    return out;
  };
  const sigmas = Array.from({ length: B }, () => Math.exp(-1.2 + 1.2 * rng.normal()));
  // DDPM: timestep indices, one of them 0 so that the decoder likelihood term is exercised too.
  const ddpm = diffusion.kind === "ddpm" ? GaussianDiffusion.fromConfig(diffusion) : undefined;
  const steps = Array.from({ length: B }, (_, i) =>
    i === 0 ? 0 : rng.int(diffusion.kind === "ddpm" ? diffusion.steps : 1),
  );
  const classes = entry.spec.conditioning.classes;
  const labels = Int32Array.from({ length: B }, (_, i) => i % (classes + 1));
  // Perturb every weight so zero-initialised layers still pass gradient to what lies behind them.
  const weights = new Map(
    graph.params.map((p) => {
      const v = initialValues(p, 1);
      for (let i = 0; i < v.length; i++) v[i] = (v[i] ?? 0) + 0.05 * rng.normal();
      return [p.name, v];
    }),
  );
  const feeds: Record<string, ort.Tensor> = {
    x: new ort.Tensor("float32", nchw(x), [B, C, H, W]),
    noise: new ort.Tensor("float32", nchw(noise), [B, C, H, W]),
    ...(ddpm ? admFeeds(ddpm, steps) : { sigma: new ort.Tensor("float32", Float32Array.from(sigmas), [B]) }),
    lr: new ort.Tensor("float32", Float32Array.of(0), []),
    bc1: new ort.Tensor("float32", Float32Array.of(1), []),
    bc2: new ort.Tensor("float32", Float32Array.of(1), []),
  };
  if (step.conditional) feeds.y = new ort.Tensor("int32", labels, [B]);
  // The tfjs forward below runs with dropout seed 0: the same masks.
  Object.assign(feeds, new DropoutMasks(step).draw(0).feeds());
  // The engine's own state object lays the weights out as the step stores them.
  if (!step.layout) throw new Error("the step has no state layout");
  const weightOf = (p: ParamDef) => weights.get(p.name) ?? new Float32Array();
  const zerosOf = (p: ParamDef) => new Float32Array(weightOf(p).length);
  new OnnxTrainState(graph.params, step.layout, {
    model: weightOf,
    ema: zerosOf,
    adamM: zerosOf,
    adamV: zerosOf,
  }).feed(session.inputNames, feeds);
  const out = await session.run(feeds);
  await session.release();
  // The same step IR on tfjs.
  const trainable = graph.params.filter((p) => p.trainable);
  const tfFeeds = Object.fromEntries(
    Object.entries(feeds).map(([k, t]) => [k, tf.tensor(t.data as Float32Array | Int32Array, [...t.dims])]),
  );
  const onTfjs = runTensorGraph(step.tensors, tfFeeds, ["loss", ...trainable.map((p) => gradOutput(p.name))]);
  const tfjsOut = new Map(
    ["loss", ...trainable.map((p) => gradOutput(p.name))].map((k, i) => [
      k,
      onTfjs[i]?.dataSync() as Float32Array,
    ]),
  );
  tf.dispose([...onTfjs, ...Object.values(tfFeeds)]);

  const model = TfjsModel.fromWeights(graph, weights);
  const vars = [...model.variables].filter(([, v]) => v.trainable);
  const xs = tf.tensor4d(x, [B, H, W, C]);
  const ns = tf.tensor4d(noise, [B, H, W, C]);
  const ys = step.conditional ? tf.tensor1d(labels, "int32") : undefined;
  const { value: lossValue, grads } = tf.variableGrads(
    () => {
      const net: Network = (a, t, y) => model.forward({ x: a, t, ...(y ? { y } : {}) }, { training: true });
      return ddpm
        ? ddpmLoss(ddpm, net, xs, ns, steps, ys)
        : edmLoss(diffusion as EdmConfig, net, xs, ns, sigmas, ys);
    },
    vars.map(([, v]) => v),
  );
  const reference = {
    loss: lossValue.dataSync()[0] ?? Number.NaN,
    grads: new Map(vars.map(([name, v]) => [name, grads[v.name]?.dataSync() as Float32Array])),
  };
  tf.dispose([lossValue, xs, ns, ...(ys ? [ys] : []), ...Object.values(grads)]);
  model.dispose();
  let worst = 0;
  let worstName = "";
  for (const [name] of vars) {
    const expected = reference.grads.get(name) ?? new Float32Array();
    for (const [target, a] of [
      ["onnxruntime", out[gradOutput(name)]?.data as Float32Array],
      ["tfjs", tfjsOut.get(gradOutput(name)) ?? new Float32Array()],
    ] as const) {
      const rel = relativeError(a, expected);
      if (!(rel <= worst)) {
        worst = rel;
        worstName = `${name} (${target})`;
      }
    }
  }
  const loss = Number(out.loss?.data[0]);
  const tfjsLoss = tfjsOut.get("loss")?.[0] ?? Number.NaN;
  const lossError = (l: number) => Math.abs(l - reference.loss) / Math.abs(reference.loss);
  return {
    worst,
    worstName,
    lossError: Math.max(lossError(loss), lossError(tfjsLoss)),
    ops: new Set(graph.nodes.map((node) => node.op)),
    differentiated: step.differentiated,
  };
}

/** Tensor ops whose VJP rules a test has run against tfjs autodiff. */
const differentiated = new Set<TensorOpKind>();

describe("network gradients match tfjs autodiff", () => {
  const covered = new Set<OpKind>();
  for (const [name, value] of Object.entries(CASES)) {
    it(name, async () => {
      const r = await compareNetwork(value);
      for (const op of r.ops) covered.add(op);
      for (const op of r.differentiated) differentiated.add(op);
      if (process.env.DIFFIT_VERBOSE) console.log(name, r.worst, r.worstName, r.lossError);
      expect(r.lossError, "loss").toBeLessThan(1e-5);
      expect(r.worst, `worst gradient: ${r.worstName}`).toBeLessThan(TOLERANCE);
    }, 60_000);
  }
  it("the cases cover every IR op", () => {
    const missing = (Object.keys(OPS) as OpKind[]).filter((op) => !covered.has(op));
    expect(missing).toEqual([]);
  });
});

/** One tensor-tier node with float inputs; loss = Σ out·R for a fixed random R. */
async function compareOp<K extends TensorOpKind>(
  op: K,
  ins: { shape: number[]; positive?: boolean }[],
  reference: (...xs: tf.Tensor[]) => tf.Tensor,
  attrs: TensorOpAttrs[K] = {} as TensorOpAttrs[K],
  extraInputs: (b: TensorGraph) => string[] = () => [],
  /** Put the extra inputs first (Where's condition). */
  extraFirst = false,
  /** For ops with several outputs: how many, and which ones the loss reads (joined on `axis`). */
  multi?: { count: number; read: number[]; axis: number },
): Promise<number> {
  const rng = new Rng(3, op);
  const b = new TensorGraph();
  const values = ins.map((s) =>
    Float32Array.from({ length: s.shape.reduce((a, d) => a * d, 1) }, () =>
      s.positive ? 0.5 + Math.abs(rng.normal()) : rng.normal(),
    ),
  );
  const names = ins.map((s, i) => b.input(`in${i}`, s.shape));
  const extra = extraInputs(b);
  const outs = (
    b.opN as (op: K, ins: string[], hint: string, n: number, attrs: TensorOpAttrs[K]) => string[]
  )(op, extraFirst ? [...extra, ...names] : [...names, ...extra], "y", multi?.count ?? 1, attrs);
  const y = multi
    ? b.op(
        "Concat",
        multi.read.map((i) => outs[i] ?? ""),
        "read",
        { axis: multi.axis },
      )
    : (outs[0] ?? "");
  const ref = tf.tidy(() => reference(...values.map((v, i) => tf.tensor(v, ins[i]?.shape))).shape);
  const r = Float32Array.from({ length: ref.reduce((a, d) => a * d, 1) }, () => rng.normal());
  const loss = b.op("ReduceSum", [b.op("Mul", [y, b.constant(Array.from(r), ref)], "weighted")], "loss", {
    keepdims: 0,
  });
  const backward = appendBackward(b, loss, names);
  for (const k of backward.differentiated) differentiated.add(k);
  const outputs = names.map((n) => b.alias(backward.grads.get(n) ?? "", `d${n}`));
  const info = (name: string, dims: readonly number[]) => ({
    name,
    type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  });
  const rendered = renderGraph(b, 17);
  const bytes = onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name: op,
      node: rendered.nodes,
      input: names.map((n, i) => info(n, ins[i]?.shape ?? [])),
      output: outputs.map((n, i) => info(n, ins[i]?.shape ?? [])),
      initializer: rendered.initializers.map((i) => tensorProto(i)),
    },
  }).finish();
  const session = await ort.InferenceSession.create(bytes);
  const onnxOut = await session.run(
    Object.fromEntries(
      names.map((n, i) => [n, new ort.Tensor("float32", values[i] ?? new Float32Array(), ins[i]?.shape)]),
    ),
  );
  await session.release();
  const tfjsOut = tf.tidy(() =>
    runTensorGraph(
      b,
      Object.fromEntries(names.map((n, i) => [n, tf.tensor(values[i] ?? new Float32Array(), ins[i]?.shape)])),
      outputs,
    ).map((t) => t.dataSync() as Float32Array),
  );
  const expected = tf.tidy(() =>
    tf
      .grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(reference(...xs), tf.tensor(r, ref))))(
        values.map((v, i) => tf.tensor(v, ins[i]?.shape)),
      )
      .map((g) => g.dataSync() as Float32Array),
  );
  let worst = 0;
  outputs.forEach((name, i) => {
    const e = expected[i] ?? new Float32Array();
    const scale = e.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (const a of [onnxOut[name]?.data as Float32Array, tfjsOut[i] ?? new Float32Array()]) {
      const diff = e.reduce((m, v, j) => Math.max(m, Math.abs(v - (a[j] ?? Number.NaN))), 0);
      worst = Math.max(worst, diff / scale);
    }
  });
  return worst;
}

describe("single tensor-op rules match tf.grads, on onnxruntime and on tfjs", () => {
  const bin = [{ shape: [2, 3, 4] }, { shape: [3, 1] }];
  const cases: [string, () => Promise<number>][] = [
    ["Sub [2,3,4] − [3,1]", () => compareOp("Sub", bin, (a, b) => tf.sub(a as tf.Tensor, b as tf.Tensor))],
    [
      "Div [2,3,4] / [3,1]",
      () =>
        compareOp("Div", [{ shape: [2, 3, 4] }, { shape: [3, 1], positive: true }], (a, b) =>
          tf.div(a as tf.Tensor, b as tf.Tensor),
        ),
    ],
    [
      "Mul [2,3,4] · [4]",
      () =>
        compareOp("Mul", [{ shape: [2, 3, 4] }, { shape: [4] }], (a, b) =>
          tf.mul(a as tf.Tensor, b as tf.Tensor),
        ),
    ],
    ["Exp", () => compareOp("Exp", [{ shape: [3, 5] }], (a) => tf.exp(a as tf.Tensor))],
    ["Log", () => compareOp("Log", [{ shape: [3, 5], positive: true }], (a) => tf.log(a as tf.Tensor))],
    ["Sin", () => compareOp("Sin", [{ shape: [3, 5] }], (a) => tf.sin(a as tf.Tensor))],
    ["Cos", () => compareOp("Cos", [{ shape: [3, 5] }], (a) => tf.cos(a as tf.Tensor))],
    ["Neg", () => compareOp("Neg", [{ shape: [3, 5] }], (a) => tf.neg(a as tf.Tensor))],
    ["Sqrt", () => compareOp("Sqrt", [{ shape: [3, 5], positive: true }], (a) => tf.sqrt(a as tf.Tensor))],
    [
      "MatMul [2,3,4,5]·[3,5,6] (broadcast batch)",
      () =>
        compareOp("MatMul", [{ shape: [2, 3, 4, 5] }, { shape: [3, 5, 6] }], (a, b) =>
          tf.matMul(a as tf.Tensor4D, tf.broadcastTo(b as tf.Tensor, [2, 3, 5, 6]) as tf.Tensor4D),
        ),
    ],
    [
      "Gemm [3,4]·[4,5]",
      () =>
        compareOp("Gemm", [{ shape: [3, 4] }, { shape: [4, 5] }], (a, b) =>
          tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
        ),
    ],
    [
      "ReduceSum axes [1] keepdims 0",
      () =>
        compareOp(
          "ReduceSum",
          [{ shape: [2, 3, 4] }],
          (a) => tf.sum(a as tf.Tensor, 1),
          { keepdims: 0 },
          (b) => [b.ints([1])],
        ),
    ],
    [
      "ReduceMean all",
      () => compareOp("ReduceMean", [{ shape: [2, 3, 4] }], (a) => tf.mean(a as tf.Tensor), { keepdims: 0 }),
    ],
    [
      "Slice [1:3) on axis 1",
      () =>
        compareOp(
          "Slice",
          [{ shape: [2, 4, 3] }],
          (a) => tf.slice(a as tf.Tensor, [0, 1, 0], [2, 2, 3]),
          {},
          (b) => [b.ints([1]), b.ints([3]), b.ints([1])],
        ),
    ],
    [
      "Max [2,3,4] with [4] (broadcast)",
      () =>
        compareOp("Max", [{ shape: [2, 3, 4] }, { shape: [4] }], (a, b) =>
          // tfjs's Maximum gradient does not undo broadcasting itself.
          tf.maximum(a as tf.Tensor, tf.broadcastTo(b as tf.Tensor, [2, 3, 4])),
        ),
    ],
    [
      "Where(c, a [2,3], b [3]) with a fixed condition",
      () =>
        compareOp(
          "Where",
          [{ shape: [2, 3] }, { shape: [3] }],
          (a, b) =>
            tf.where(
              tf.tensor2d([1, 0, 1, 0, 0, 1], [2, 3], "bool"),
              a as tf.Tensor,
              tf.broadcastTo(b as tf.Tensor, [2, 3]),
            ),
          {},
          (b) => [b.op("Cast", [b.constant([1, 0, 1, 0, 0, 1], [2, 3], "int64")], "cond", { to: 9 })],
          true,
        ),
    ],
    ["Identity", () => compareOp("Identity", [{ shape: [3, 5] }], (a) => tf.clone(a as tf.Tensor))],
    [
      "Cast float → float",
      () => compareOp("Cast", [{ shape: [3, 5] }], (a) => tf.clone(a as tf.Tensor), { to: 1 }),
    ],
    [
      "Sum [2,3,4] + [3,1] + [4]",
      () =>
        compareOp("Sum", [{ shape: [2, 3, 4] }, { shape: [3, 1] }, { shape: [4] }], (a, b, c) =>
          tf.add(tf.add(a as tf.Tensor, b as tf.Tensor), c as tf.Tensor),
        ),
    ],
    [
      "Gemm transA, transB [4,3]ᵀ·[5,4]ᵀ",
      () =>
        compareOp(
          "Gemm",
          [{ shape: [4, 3] }, { shape: [5, 4] }],
          (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, true, true),
          { transA: 1, transB: 1 },
        ),
    ],
    [
      "Gemm transA [4,3]ᵀ·[4,5]",
      () =>
        compareOp(
          "Gemm",
          [{ shape: [4, 3] }, { shape: [4, 5] }],
          (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, true, false),
          { transA: 1 },
        ),
    ],
    [
      "ReduceSumSquare axes [0, 2] keepdims 1",
      () =>
        compareOp(
          "ReduceSumSquare",
          [{ shape: [2, 3, 4] }],
          (a) => tf.sum(tf.square(a as tf.Tensor), [0, 2], true),
          { keepdims: 1 },
          (b) => [b.ints([0, 2])],
        ),
    ],
    [
      "Unsqueeze axes [0, 3]",
      () =>
        compareOp(
          "Unsqueeze",
          [{ shape: [2, 3] }],
          (a) => tf.reshape(a as tf.Tensor, [1, 2, 3, 1]),
          {},
          (b) => [b.ints([0, 3])],
        ),
    ],
    [
      "Expand [3,1] to [2,3,4]",
      () =>
        compareOp(
          "Expand",
          [{ shape: [3, 1] }],
          (a) => tf.broadcastTo(a as tf.Tensor, [2, 3, 4]),
          {},
          (b) => [b.ints([2, 3, 4])],
        ),
    ],
    [
      "Pad [2,3] by (1, 0 | 2, 1)",
      () =>
        compareOp(
          "Pad",
          [{ shape: [2, 3] }],
          (a) =>
            tf.pad(a as tf.Tensor, [
              [1, 2],
              [0, 1],
            ]),
          {},
          (b) => [b.ints([1, 0, 2, 1])],
        ),
    ],
    [
      "Split [2,6] into 1, 2, 3 on axis 1, the middle output unread (zero gradient)",
      () =>
        compareOp(
          "Split",
          [{ shape: [2, 6] }],
          (a) => {
            const [p, , r] = tf.split(a as tf.Tensor, [1, 2, 3], 1);
            return tf.concat([p as tf.Tensor, r as tf.Tensor], 1);
          },
          { axis: 1 },
          (b) => [b.ints([1, 2, 3])],
          false,
          { count: 3, read: [0, 2], axis: 1 },
        ),
    ],
    [
      "Gather 2-D indices on axis 0 (repeats)",
      () =>
        compareOp(
          "Gather",
          [{ shape: [4, 3] }],
          (a) => tf.gather(a as tf.Tensor, tf.tensor2d([0, 2, 2, 3, 0, 0], [2, 3], "int32")),
          { axis: 0 },
          (b) => [b.constant([0, 2, 2, 3, 0, 0], [2, 3], "int64")],
        ),
    ],
    [
      "Gather on axis 1 (repeats)",
      () =>
        compareOp(
          "Gather",
          [{ shape: [2, 4, 3] }],
          (a) => tf.gather(a as tf.Tensor, tf.tensor1d([3, 1, 1, 0, 3], "int32"), 1),
          { axis: 1 },
          (b) => [b.constant([3, 1, 1, 0, 3], [5], "int64")],
        ),
    ],
  ];
  for (const [name, run] of cases) {
    it(name, async () => {
      expect(await run()).toBeLessThan(TOLERANCE);
    });
  }
  it("every VJP rule that passes a gradient has run against tfjs autodiff", () => {
    const rules = VJP_RULES as Record<TensorOpKind, unknown>;
    const withGradient = (Object.keys(rules) as TensorOpKind[]).filter((k) => rules[k] !== noGradient);
    expect(withGradient.filter((k) => !differentiated.has(k))).toEqual([]);
  });
});
