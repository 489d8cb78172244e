// Finite-difference gradient checks of every tfjs lowering (LOWERINGS in src/compiler/ops/tfjs.ts),
// on the cpu backend and on wasm (whose training kernels are partly the project's own:
// Conv2DBackpropFilter, UnsortedSegmentSum for the gather gradient, and the fast BatchMatMul
// and Conv2DBackpropInput paths). Each case is one IR node built by hand, with parameter shapes
// taken from the op registry (so declaration and lowering must agree); the loss is
// L = Σ out ⊙ R with R fixed and random, and tfjs autodiff is compared with central differences
// on a random subset of the coordinates of every float input and parameter.
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NodeOf, OpAttrs, OpKind } from "../src/compiler/ir/types.ts";
import { opDef } from "../src/compiler/ops/index.ts";
import { LOWERINGS, type LowerContext, lowerNode } from "../src/compiler/ops/tfjs.ts";
import { selectBackend } from "../src/runtime/backend.ts";
import { Rng } from "../src/runtime/random.ts";

/**
 * Numbers. Central differences have truncation error eps²·f'''/6 and rounding error
 * ≈ u·|affected outputs|/eps. We keep every input and parameter of order 1 and evaluate the
 * loss in float64 from the float32 outputs (so only outputs that the perturbed coordinate
 * changes contribute rounding noise, ≈ 1e-7 relative each), and divide by the float32 step
 * actually taken (fround(x + eps) − fround(x − eps)). With eps = 1e-2 the truncation error is
 * ≈ 2e-5·|f'''| and the rounding error ≈ 1e-5 relative. A coordinate passes when
 * |autodiff − fd| ≤ RTOL·max(|fd|, FLOOR·max|autodiff|). RTOL = 2e-2 is the "few 1e-2" that
 * float32 affords, with margin: the worst passing error observed is ≈ 4e-3 (Fourier features,
 * whose arguments 2π·f·t reach ~10, so f''' is large), attention ≈ 1e-3, most ops < 1e-4. FLOOR = 0.1
 * keeps coordinates whose true gradient is nearly zero (a group-norm input whose contributions
 * cancel) from turning noise into a large relative error. A wrong gradient (a missing broadcast
 * reduction, a transposed filter, a lost gather accumulation) is off by O(100%).
 */
const EPS = 1e-2;
const RTOL = 2e-2;
const FLOOR = 0.1;
/** Coordinates checked per differentiated tensor. */
const COORDS = 5;

interface Src {
  shape: number[];
  data: Float32Array | Int32Array;
  dtype: "float32" | "int32";
  /** The first axis is the batch ("N" in the IR); false for broadcast constants. */
  batched?: boolean;
}

interface GradCase {
  name: string;
  node: NodeOf<OpKind>;
  /** The node's inputs, in order. */
  inputs: Src[];
  /** Parameters by role. */
  params: Map<string, Src>;
  ctx?: LowerContext;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function normal(rng: Rng, shape: number[], std = 1, mean = 0): Src {
  const data = Float32Array.from({ length: size(shape) }, () => mean + std * rng.normal());
  return { shape, data, dtype: "float32" };
}

const unbatched = (s: Src): Src => ({ ...s, batched: false });

let nextId = 1;

/** One node with the registry's parameters, random inputs and random parameters. */
function makeCase<K extends OpKind>(
  name: string,
  op: K,
  attrs: OpAttrs[K],
  inputs: (rng: Rng) => Src[],
  ctx?: LowerContext,
): GradCase {
  const rng = new Rng(11, name);
  const ins = inputs(rng);
  const def = opDef(op);
  const specs = def.params(attrs);
  const inferred = def.infer(
    attrs,
    ins.map((s) => ({
      shape: s.batched === false ? s.shape : ["N" as const, ...s.shape.slice(1)],
      dtype: s.dtype,
    })),
  );
  if (typeof inferred === "string") throw new Error(`${name}: ${inferred}`);
  const node = {
    id: nextId++,
    op,
    name,
    inputs: ins.map((_, i) => i),
    attrs,
    // As GraphBuilder names them: a parameter with an empty role is the node's "table".
    params: Object.fromEntries(specs.map((s) => [s.role || "table", s.role ? `${name}.${s.role}` : name])),
    out: inferred,
    at: [],
  } as NodeOf<K>;
  const params = new Map(specs.map((s) => [s.role || "table", normal(rng, s.shape, 0.5)]));
  return { name, node: node as unknown as NodeOf<OpKind>, inputs: ins, params, ...(ctx ? { ctx } : {}) };
}

const toTensor = (s: Src) => tf.tensor(s.data, s.shape, s.dtype);

/** Keys of the differentiated tensors: every float input ("in:i") and every parameter ("p:role"). */
function differentiable(c: GradCase): string[] {
  const keys = c.inputs.flatMap((s, i) => (s.dtype === "float32" ? [`in:${i}`] : []));
  return [...keys, ...[...c.params.keys()].map((r) => `p:${r}`)];
}

function srcOf(c: GradCase, key: string): Src {
  const s = key.startsWith("in:") ? c.inputs[Number(key.slice(3))] : c.params.get(key.slice(2));
  if (!s) throw new Error(`no ${key}`);
  return s;
}

/** Runs the lowering with the given tensors standing in for the keyed sources. */
function run(c: GradCase, bound: Map<string, tf.Tensor>): tf.Tensor {
  const get = (key: string) => bound.get(key) ?? toTensor(srcOf(c, key));
  const inputs = c.inputs.map((_, i) => get(`in:${i}`));
  const p = (role: string) => {
    if (!c.params.has(role)) throw new Error(`${c.name} has no parameter ${role}`);
    return get(`p:${role}`);
  };
  return lowerNode(c.node, inputs, p, c.ctx ?? { training: false, dropoutSeed: 0 });
}

interface Check {
  key: string;
  index: number;
  autodiff: number;
  fd: number;
  /** |autodiff − fd| / max(|fd|, FLOOR·max|autodiff|). */
  error: number;
}

function gradientCheck(c: GradCase): Check[] {
  const keys = differentiable(c);
  const outShape = tf.tidy(() => run(c, new Map()).shape);
  const batch = c.inputs[0]?.shape[0];
  const inferred = c.node.out.shape.map((d) => (d === "N" ? batch : d));
  expect(outShape, `${c.name}: lowering output vs inferred shape`).toEqual(inferred);
  const rng = new Rng(5, c.name);
  const weights = Float64Array.from({ length: size(outShape) }, () => rng.normal());

  // Autodiff: tf.grads of L = Σ out ⊙ R with respect to every differentiable tensor.
  const analytic = tf.tidy(() => {
    const r = tf.tensor(Float32Array.from(weights), outShape);
    const f = (...xs: tf.Tensor[]) => {
      const bound = new Map<string, tf.Tensor>();
      keys.forEach((k, i) => {
        const x = xs[i];
        if (x) bound.set(k, x);
      });
      return tf.sum(tf.mul(run(c, bound), r));
    };
    return tf
      .grads(f)(keys.map((k) => toTensor(srcOf(c, k))))
      .map((g) => g.dataSync() as Float32Array);
  });

  // The loss in float64 from the float32 outputs.
  const loss = (key: string, values: Float32Array) =>
    tf.tidy(() => {
      const s = srcOf(c, key);
      const out = run(c, new Map([[key, tf.tensor(values, s.shape, "float32")]])).dataSync();
      let l = 0;
      for (let i = 0; i < out.length; i++) l += (out[i] ?? 0) * (weights[i] ?? 0);
      return l;
    });

  const checks: Check[] = [];
  keys.forEach((key, k) => {
    const s = srcOf(c, key);
    const g = analytic[k] ?? new Float32Array();
    const gmax = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const n = s.data.length;
    const picks = new Set<number>();
    while (picks.size < Math.min(COORDS, n)) picks.add(rng.int(n));
    for (const index of picks) {
      const values = Float32Array.from(s.data);
      const x = values[index] ?? 0;
      const up = Math.fround(x + EPS);
      const down = Math.fround(x - EPS);
      values[index] = up;
      const lUp = loss(key, values);
      values[index] = down;
      const lDown = loss(key, values);
      const fd = (lUp - lDown) / (up - down);
      const autodiff = g[index] ?? Number.NaN;
      const error = Math.abs(autodiff - fd) / Math.max(Math.abs(fd), FLOOR * gmax, 1e-12);
      checks.push({ key, index, autodiff, fd, error });
    }
  });
  return checks;
}

const img = (n: number, h: number, w: number, c: number) => (rng: Rng) => [normal(rng, [n, h, w, c])];

function buildCases(): GradCase[] {
  const cases: GradCase[] = [];
  const conv = (kernel: number, stride: number, padding: number) =>
    cases.push(
      makeCase(
        `conv2d k${kernel} s${stride} p${padding}`,
        "conv2d",
        { kernel, stride, padding, inChannels: 3, outChannels: 4, bias: true, init: "xavier-uniform" },
        img(2, 5, 5, 3),
      ),
    );
  conv(3, 1, 1);
  conv(3, 2, 1);
  conv(3, 1, 0);
  conv(3, 2, 0);
  conv(2, 2, 0); // the latent patch embedding
  cases.push(
    makeCase(
      "conv2d 1×1 without bias",
      "conv2d",
      {
        kernel: 1,
        stride: 1,
        padding: 0,
        inChannels: 3,
        outChannels: 2,
        bias: false,
        init: "xavier-uniform",
      },
      img(2, 3, 3, 3),
    ),
  );
  cases.push(
    makeCase(
      "conv-transpose2d k4 s2 p1",
      "conv-transpose2d",
      {
        kernel: 4,
        stride: 2,
        padding: 1,
        outputPadding: 0,
        inChannels: 4,
        outChannels: 3,
        init: "xavier-uniform",
      },
      img(2, 3, 3, 4),
    ),
  );
  cases.push(makeCase("avg-pool 2", "avg-pool", { size: 2 }, img(2, 4, 4, 3)));
  // tfjs 4.22's own resize gradients are wrong (ResizeBilinearGrad ignores halfPixelCenters;
  // the cpu ResizeNearestNeighborGrad mis-strides batches > 1), which these cases found; the
  // lowering therefore builds up-sampling from slices and broadcasts. Batch 2 keeps that honest.
  cases.push(makeCase("resize nearest ×2", "resize", { mode: "nearest", scale: 2 }, img(2, 3, 3, 2)));
  cases.push(
    makeCase("resize nearest ×2, batch 1", "resize", { mode: "nearest", scale: 2 }, img(1, 3, 3, 2)),
  );
  cases.push(makeCase("resize bilinear ×2", "resize", { mode: "bilinear", scale: 2 }, img(2, 3, 3, 2)));
  cases.push(
    makeCase("group-norm 2 groups", "group-norm", { groups: 2, channels: 4, eps: 1e-6 }, img(2, 3, 3, 4)),
  );
  for (const affine of [true, false]) {
    cases.push(
      makeCase(`layer-norm affine ${affine}`, "layer-norm", { width: 6, eps: 1e-6, affine }, (rng) => [
        normal(rng, [2, 3, 6]),
      ]),
    );
  }
  for (const bias of [true, false]) {
    cases.push(
      makeCase(
        `linear bias ${bias}`,
        "linear",
        { inFeatures: 5, outFeatures: 4, bias, init: "xavier-uniform" },
        (rng) => [normal(rng, [2, 3, 5])],
      ),
    );
  }
  cases.push(makeCase("gelu-tanh", "gelu-tanh", {}, (rng) => [normal(rng, [3, 7], 2)]));
  cases.push(makeCase("silu", "silu", {}, (rng) => [normal(rng, [3, 7], 2)]));
  // Broadcasting: a per-sample vector and a per-channel vector; their gradients must be reduced.
  const broadcast = (rng: Rng) => [
    normal(rng, [2, 3, 3, 4]),
    normal(rng, [2, 1, 1, 4]),
    unbatched(normal(rng, [4])),
  ];
  cases.push(makeCase("add with broadcasting", "add", {}, broadcast));
  cases.push(makeCase("mul with broadcasting", "mul", {}, broadcast));
  cases.push(
    makeCase("modulate (adaLN)", "modulate", {}, (rng) => [
      normal(rng, [2, 3, 4]),
      normal(rng, [2, 1, 4]),
      normal(rng, [2, 1, 4]),
    ]),
  );
  cases.push(
    makeCase("dropout (training, seeded mask)", "dropout", { rate: 0.5 }, (rng) => [normal(rng, [4, 6])], {
      training: true,
      dropoutSeed: 3,
    }),
  );
  cases.push(
    makeCase("concat channels", "concat", { axis: 3 }, (rng) => [
      normal(rng, [2, 2, 2, 3]),
      normal(rng, [2, 2, 2, 1]),
    ]),
  );
  cases.push(
    makeCase("slice last axis (negative)", "slice", { axis: -1, start: 2, size: 3 }, (rng) => [
      normal(rng, [2, 3, 8]),
    ]),
  );
  cases.push(
    makeCase("slice axis 1", "slice", { axis: 1, start: 1, size: 2 }, (rng) => [normal(rng, [2, 4, 3])]),
  );
  cases.push(
    makeCase("reshape tokens to a grid", "reshape", { shape: ["N", 2, 2, 6] }, (rng) => [
      normal(rng, [2, 4, 6]),
    ]),
  );
  cases.push(makeCase("unpatchify p2", "unpatchify", { patch: 2, channels: 3 }, img(2, 2, 2, 12)));
  cases.push(
    makeCase("add-position (learned)", "add-position", { grid: 3, width: 4, learned: true }, img(2, 3, 3, 4)),
  );
  // t in [0, 3]: the positional frequencies are ≤ 1, so the sinusoids stay well resolved at eps.
  const times = (rng: Rng): Src[] => [
    { shape: [3], data: Float32Array.from({ length: 3 }, () => 3 * rng.uniform()), dtype: "float32" },
  ];
  for (const layout of ["cos-sin", "sin-cos"] as const) {
    cases.push(
      makeCase(
        `timestep-embedding positional ${layout} (d/dt)`,
        "timestep-embedding",
        { kind: "positional", dim: 8, layout, maxPeriod: 10000, fourierScale: 1 },
        times,
      ),
    );
  }
  cases.push(
    makeCase(
      "timestep-embedding fourier (d/dt and d/dfreqs)",
      "timestep-embedding",
      { kind: "fourier", dim: 8, layout: "cos-sin", maxPeriod: 10000, fourierScale: 0.3 },
      times,
    ),
  );
  // Repeated labels: the table gradient must accumulate (the gather gradient is a segment sum).
  cases.push(
    makeCase("label-embedding (d/dtable, repeated labels)", "label-embedding", { rows: 5, width: 4 }, () => [
      { shape: [6], data: Int32Array.from([1, 3, 1, 4, 1, 0]), dtype: "int32" },
    ]),
  );
  for (const mode of ["tmsa", "time-independent", "time-in-bias"] as const) {
    cases.push(
      makeCase(
        `window-attention ${mode}`,
        "window-attention",
        {
          width: 8,
          heads: 2,
          window: 2,
          mode,
          timeWidth: 6,
          relativePositionBias: true,
          qkvBias: true,
        },
        // time-independent reads no time token, so its node has none (as in the IR).
        (rng) =>
          mode === "time-independent"
            ? [normal(rng, [2, 4, 4, 8])]
            : [normal(rng, [2, 4, 4, 8]), normal(rng, [2, 6])],
      ),
    );
  }
  return cases;
}

const cases = buildCases();

it("every op kind of LOWERINGS except input has a gradient case", () => {
  const covered = new Set(cases.map((c) => c.node.op));
  const missing = Object.keys(LOWERINGS).filter((op) => op !== "input" && !covered.has(op as OpKind));
  expect(missing).toEqual([]);
});

for (const backend of ["cpu", "wasm"] as const) {
  describe(`autodiff equals central differences on ${backend}`, () => {
    let before = 0;
    beforeAll(async () => {
      await selectBackend(backend);
      before = tf.memory().numTensors;
    });
    afterAll(() => {
      // Only cached constants (the relative position index) may survive a case.
      expect(tf.memory().numTensors - before).toBeLessThan(5);
    });
    for (const c of cases) {
      it(c.name, () => {
        const checks = gradientCheck(c);
        const worst = checks.reduce((a, b) => (b.error > a.error ? b : a));
        // Every differentiated tensor got checked and its gradient is not identically zero.
        expect(new Set(checks.map((k) => k.key))).toEqual(new Set(differentiable(c)));
        for (const key of differentiable(c)) {
          const largest = Math.max(...checks.filter((k) => k.key === key).map((k) => Math.abs(k.fd)));
          expect(largest, `${key} has a non-zero gradient`).toBeGreaterThan(1e-3);
        }
        const bad = checks.filter((k) => !(k.error <= RTOL));
        expect(bad, `worst ${JSON.stringify(worst)}`).toEqual([]);
      });
    }
  });
}
