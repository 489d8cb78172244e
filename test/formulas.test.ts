// Every formula of src/compiler/formulas (EDM, DDPM, Adam, EMA, guidance), evaluated through each
// implementation of its arithmetic on the same inputs: plain numbers (float64), tfjs tensors (cpu
// backend, float32) and the tensor-tier graph rendered to ONNX and run in onnxruntime-node
// (float32). The engines share these formulas instead of copies that mirror one another, so this
// is the check that one formula text means the same on every engine. That the engines compute
// what they did before the formulas were shared is what their parity tests keep (test/edm,
// test/ddpm, test/trainer, test/onnx-training, test/onnx-export, test/onnx-sampling, ...).
//
// Tolerance. The inputs are float32 values, so all three see the same numbers. A float32
// operation rounds with relative error u = 2⁻²⁴ ≈ 6e-8; these formulas are ≤ 30 operations on O(1)
// values with bounded conditioning over the input ranges drawn here, so float32 lands within
// ~30u ≈ 2e-6 of float64, relative to max(1, |value|): we allow TOLERANCE = 1e-5 (5×). Cases that
// amplify rounding by design state their own bound. A wrong formula (a sign, a missing factor,
// swapped operands) is off by O(1).
import * as tf from "@tensorflow/tfjs";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { renderGraph } from "../src/compiler/emit/onnx/render.ts";
import * as adam from "../src/compiler/formulas/adam.ts";
import * as ddpm from "../src/compiler/formulas/ddpm.ts";
import * as schedule from "../src/compiler/formulas/ddpm-schedule.ts";
import * as edm from "../src/compiler/formulas/edm.ts";
import * as ema from "../src/compiler/formulas/ema.ts";
import * as guidance from "../src/compiler/formulas/guidance.ts";
import {
  graphOps,
  minimum,
  numberOps,
  type Operand,
  type ScalarOps,
} from "../src/compiler/formulas/scalar-ops.ts";
import { diffusionSection } from "../src/compiler/schema/sections.ts";
import { TensorGraph } from "../src/compiler/tensor/graph.ts";
import { selectBackend } from "../src/runtime/backend.ts";
import { Rng } from "../src/runtime/random.ts";
import { tfjsOps } from "../src/runtime/tfjs-scalar-ops.ts";
import { encodeRendered } from "./helpers/onnx-model.ts";

const N = 64;
const TOLERANCE = 1e-5;

type Draw = (r: Rng, i: number) => number;
type Outputs<T> = Record<string, Operand<T>>;

interface Case {
  name: string;
  /** The exported formulas the case evaluates (every one must be covered, see the last test). */
  covers: string[];
  inputs: Record<string, Draw>;
  run<T>(ops: ScalarOps<T>, input: (name: string) => T): Outputs<T>;
  tolerance?: number;
}

const uniform =
  (lo: number, hi: number): Draw =>
  (r) =>
    lo + (hi - lo) * r.uniform();
const logUniform =
  (lo: number, hi: number): Draw =>
  (r) =>
    Math.exp(Math.log(lo) + (Math.log(hi) - Math.log(lo)) * r.uniform());
const normal: Draw = (r) => r.normal();
/** Step indices spread over 0..n−1. */
const steps =
  (n: number): Draw =>
  (_, i) =>
    Math.round((i * (n - 1)) / (N - 1));
/** The data values of the decoder: the two edges ±1 and interior levels. */
const pixels: Draw = (r, i) =>
  i % 4 === 0 ? -1 : i % 4 === 1 ? 1 : Math.round(uniform(-127, 127)(r, i)) / 127.5;

/** The schema's EDM defaults with the given preconditioning. */
function edmConfig(preconditioning: "edm" | "ve" | "vp"): edm.EdmConfig {
  const c = diffusionSection.parse({ kind: "edm", preconditioning });
  if (c.kind !== "edm") throw new Error("not an EDM config");
  return c;
}

// VP's c_noise = 999·t(σ) reads ln(σ² + 1), whose float32 argument loses σ² to rounding for small
// σ: an absolute error ~u in the log, times dc_noise/dln ≤ 999/β_min, is ≲ 6e-4, so 1e-3 there.
const edmCases: Case[] = (["edm", "ve", "vp"] as const).map((p) => ({
  name: `EDM preconditioning (${p}): c_skip, c_out, c_in, c_noise, c_in·x, D, λ`,
  ...(p === "vp" ? { tolerance: 1e-3 } : {}),
  covers: ["edmScalings", "edmNoiseInput", "edmNetworkInput", "edmDenoised", "edmLossWeight"],
  inputs: { sigma: logUniform(0.002, 80), x: normal, f: normal },
  run: (ops, v) => {
    const s = edm.edmScalings(ops, edmConfig(p), v("sigma"));
    return {
      ...s,
      cNoise: edm.edmNoiseInput(ops, edmConfig(p), v("sigma")),
      xIn: edm.edmNetworkInput(ops, v("x"), s),
      denoised: edm.edmDenoised(ops, v("x"), v("f"), s),
      weight: edm.edmLossWeight(ops, s),
    };
  },
}));

const cases: Case[] = [
  ...edmCases,
  {
    name: "EDM training loss element λ·(D − x)² at x + σ·n",
    covers: ["edmNoisy", "edmLossElement"],
    inputs: { x: normal, noise: normal, sigma: logUniform(0.01, 10), d: normal, weight: logUniform(0.1, 10) },
    run: (ops, v) => ({
      noisy: edm.edmNoisy(ops, v("x"), v("noise"), v("sigma")),
      element: edm.edmLossElement(ops, v("weight"), v("d"), v("x")),
    }),
  },
  {
    name: "EDM training noise levels exp(P_mean + P_std·n)",
    covers: ["edmTrainingSigma"],
    inputs: { n: uniform(-3, 3) },
    run: (ops, v) => ({ sigma: edm.edmTrainingSigma(ops, edmConfig("edm"), v("n")) }),
  },
  {
    // The graph's power is exp(ρ·ln x): ln x ≤ 0.63 here, ρ = 7, so its error is ~ρ·|ln x|·u ≈ 5u.
    name: "EDM sampler noise levels (ρ schedule)",
    covers: ["karrasSigma"],
    inputs: { frac: uniform(0, 1) },
    run: (ops, v) => ({ sigma: edm.karrasSigma(ops, edmConfig("edm"), v("frac")) }),
  },
  {
    name: "EDM sampler: slope, Euler step, Heun step (σ = 2.5 → 1.25)",
    covers: ["edmSlope", "eulerStep", "heunStep"],
    inputs: { x: normal, d: normal, d2: normal },
    run: (ops, v) => {
      const slope = edm.edmSlope(ops, v("x"), v("d"), 2.5);
      const euler = edm.eulerStep(ops, v("x"), slope, 2.5, 1.25);
      return {
        slope,
        euler,
        heun: edm.heunStep(ops, v("x"), slope, edm.edmSlope(ops, euler, v("d2"), 1.25), 2.5, 1.25),
      };
    },
  },
  {
    name: "DDPM β schedules (linear, cosine) and min",
    covers: ["linearBeta", "cosineAlphaBar", "cosineBeta", "minimum"],
    inputs: { i: steps(950), t: uniform(0, 0.95), a: normal, b: normal },
    run: (ops, v) => ({
      linear: schedule.linearBeta(ops, 1e-4, 0.02, 1000, v("i")),
      alphaBar: schedule.cosineAlphaBar(ops, v("t")),
      cosine: schedule.cosineBeta(ops, 1000, v("i")),
      min: minimum(ops, v("a"), v("b")),
    }),
  },
  {
    name: "DDPM per-step constants from β, ᾱ_t, ᾱ_{t−1}, and respaced β",
    covers: ["stepConstants", "respacedBeta"],
    inputs: { beta: logUniform(1e-4, 0.02), abPrev: uniform(0.05, 0.99) },
    run: (ops, v) => {
      const ab = ops.mul(v("abPrev"), ops.sub(1, v("beta")));
      return {
        ...schedule.stepConstants(ops, v("beta"), ab, v("abPrev")),
        respaced: schedule.respacedBeta(ops, ab, v("abPrev")),
      };
    },
  },
  {
    name: "DDPM q_sample, x̂_0 from ε̂, ε from x̂_0, posterior mean, learned-range log Σ, ε error",
    covers: [
      "qSample",
      "predictXStart",
      "predictEpsFromXStart",
      "posteriorMean",
      "learnedRangeLogVariance",
      "epsError",
    ],
    inputs: {
      a: uniform(0.1, 0.99),
      b: uniform(0.1, 0.99),
      x0: uniform(-1, 1),
      xt: normal,
      eps: normal,
      v: uniform(-1, 1),
      minLog: uniform(-9, -4),
      maxLog: uniform(-4, -2),
    },
    run: (ops, v) => ({
      qSample: ddpm.qSample(ops, v("a"), v("b"), v("x0"), v("eps")),
      xStart: ddpm.predictXStart(ops, v("a"), v("b"), v("xt"), v("eps")),
      eps: ddpm.predictEpsFromXStart(ops, v("a"), v("b"), v("xt"), v("x0")),
      mean: ddpm.posteriorMean(ops, v("a"), v("b"), v("x0"), v("xt")),
      logVariance: ddpm.learnedRangeLogVariance(ops, v("v"), v("minLog"), v("maxLog")),
      error: ddpm.epsError(ops, v("xt"), v("eps")),
    }),
  },
  {
    name: "DDPM normal KL and approximate normal CDF",
    covers: ["normalKl", "approxStandardNormalCdf"],
    inputs: { m1: normal, m2: normal, l1: uniform(-6, 0), l2: uniform(-6, 0), z: uniform(-4, 4) },
    run: (ops, v) => ({
      kl: ddpm.normalKl(ops, v("m1"), v("l1"), v("m2"), v("l2")),
      cdf: ddpm.approxStandardNormalCdf(ops, v("z")),
    }),
  },
  {
    // Means within 1.5σ of the data, where ADM's formula is well-conditioned: each CDF is ½(1 + tanh)
    // with an absolute float32 error ~u, and the bin mass between two of them is ≥ ~5e-3 for
    // σ ≤ e^{-1.5}, so the log's error is ≲ 2u/5e-3 ≈ 3e-5: 1e-4 here. (Further out 1 + tanh cancels
    // to 0 in float32 and the 1e-12 clamp decides, in every float32 engine alike, ADM's included.)
    name: "DDPM discretised decoder log-likelihood, NLL and the VB term in bits",
    covers: ["discretizedGaussianLogLikelihood", "decoderNll", "vbBits"],
    inputs: {
      x: pixels,
      offset: uniform(-1.5, 1.5),
      logVariance: uniform(-7, -3),
      kl: uniform(0, 2),
      first: steps(2),
    },
    run: (ops, v) => {
      const logScale = ops.mul(v("logVariance"), 0.5);
      const mean = ops.add(v("x"), ops.mul(ops.exp(logScale), v("offset")));
      const nll = ddpm.decoderNll(ops, v("x"), mean, v("logVariance"));
      return {
        ll: ddpm.discretizedGaussianLogLikelihood(ops, v("x"), mean, logScale),
        nll,
        vb: ddpm.vbBits(ops, ops.greater(v("first"), 0.5), nll, v("kl")),
      };
    },
    tolerance: 1e-4,
  },
  ...(["adam", "adamw"] as const).map(
    (kind): Case => ({
      name: `${kind === "adam" ? "Adam (L2 decay)" : "AdamW (decoupled decay)"} update, bias correction, clipping`,
      covers: ["adamUpdate", "biasCorrection", "clipScale"],
      inputs: {
        w: normal,
        m: (r) => 0.1 * r.normal(),
        v: logUniform(1e-4, 1e-1),
        g: normal,
        t: steps(1000),
        norm: logUniform(0.1, 10),
      },
      run: (ops, v) => {
        const o = { kind, betas: [0.9, 0.99] as const, eps: 1e-8, weightDecay: 0.01 };
        const k = { lr: 1e-3, bc1: adam.biasCorrection(ops, 0.9, 7), bc2: adam.biasCorrection(ops, 0.99, 7) };
        return {
          ...adam.adamUpdate(ops, o, { w: v("w"), m: v("m"), v: v("v") }, v("g"), k),
          // float32 holds 0.999 as 0.999·(1 + 1.3e-8), which moves 0.999^t by ≤ t·1.3e-8·0.999^t
          // ≤ 4.7e-6 for t ≤ 1000: within TOLERANCE.
          bc: adam.biasCorrection(ops, 0.999, ops.add(v("t"), 1)),
          clip: adam.clipScale(ops, v("norm"), 1),
        };
      },
    }),
  ),
  {
    name: "EMA update",
    covers: ["emaUpdate"],
    inputs: { ema: normal, w: normal },
    run: (ops, v) => ({ ema: ema.emaUpdate(ops, 0.999, v("ema"), v("w")) }),
  },
  {
    name: "guidance: power-cosine scale and the guided prediction",
    covers: ["guidanceScaleAt", "guidedPrediction"],
    inputs: { remaining: uniform(0, 1), cond: normal, uncond: normal },
    run: (ops, v) => {
      const ramp = { scale: 4, schedule: "power-cosine", exponent: 2 } as const;
      const scale = guidance.guidanceScaleAt(ops, ramp, v("remaining"));
      return {
        scale,
        constant: guidance.guidanceScaleAt(ops, { ...ramp, schedule: "constant" }, v("remaining")),
        guided: guidance.guidedPrediction(ops, v("cond"), v("uncond"), scale),
      };
    },
  },
];

type Values = Record<string, Float64Array>;

function draw(c: Case): Record<string, Float32Array> {
  const r = new Rng(7, c.name);
  return Object.fromEntries(
    Object.entries(c.inputs).map(([name, d]) => [name, Float32Array.from({ length: N }, (_, i) => d(r, i))]),
  );
}

const input =
  <T>(values: Record<string, T>) =>
  (name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`no input ${name}`);
    return v;
  };

const column = (v: number | ArrayLike<number>) =>
  Float64Array.from({ length: N }, (_, i) =>
    typeof v === "number" ? v : v.length === 1 ? (v[0] ?? Number.NaN) : (v[i] ?? Number.NaN),
  );

function withNumbers(c: Case, x: Record<string, Float32Array>): Values {
  const rows = Array.from({ length: N }, (_, i) =>
    c.run(numberOps, input(Object.fromEntries(Object.entries(x).map(([k, a]) => [k, a[i] ?? Number.NaN])))),
  );
  const names = Object.keys(rows[0] ?? {});
  return Object.fromEntries(names.map((k) => [k, Float64Array.from(rows, (r) => Number(r[k]))]));
}

function withTfjs(c: Case, x: Record<string, Float32Array>): Values {
  const values: Values = {};
  tf.tidy(() => {
    const out = c.run(
      tfjsOps,
      input(Object.fromEntries(Object.entries(x).map(([k, a]) => [k, tf.tensor1d(a)]))),
    );
    for (const [k, v] of Object.entries(out)) values[k] = column(typeof v === "number" ? v : v.dataSync());
  });
  return values;
}

async function withOnnx(c: Case, x: Record<string, Float32Array>): Promise<Values> {
  const b = new TensorGraph();
  const names = Object.keys(x);
  for (const name of names) b.input(name, [N]);
  const out = c.run(graphOps(b, "f"), input(Object.fromEntries(names.map((n) => [n, n]))));
  const outputs = Object.entries(out).map(([k, v]) => {
    const value = typeof v === "number" ? b.scalar(v) : v;
    return [b.alias(value, `out:${k}`), [...b.dims(value)]] as [string, number[]];
  });
  const bytes = encodeRendered(
    c.name,
    renderGraph(b, 17),
    names.map((n) => [n, [N]]),
    outputs,
  );
  const session = await ort.InferenceSession.create(bytes);
  try {
    const feeds = Object.fromEntries(names.map((n) => [n, new ort.Tensor("float32", x[n] ?? [], [N])]));
    const got = await session.run(feeds);
    return Object.fromEntries(
      Object.keys(out).map((k) => [k, column(got[`out:${k}`]?.data as Float32Array)]),
    );
  } finally {
    await session.release();
  }
}

/** max over elements of |got − ref| / max(1, |ref|). */
function worst(got: Float64Array, ref: Float64Array): number {
  let w = 0;
  for (let i = 0; i < N; i++) {
    const r = ref[i] ?? Number.NaN;
    w = Math.max(w, Math.abs((got[i] ?? Number.NaN) - r) / Math.max(1, Math.abs(r)));
  }
  return w;
}

beforeAll(async () => {
  await selectBackend("cpu");
});

describe("each formula agrees across numbers (float64), tfjs and ONNX (float32)", () => {
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_, c) => {
    const x = draw(c);
    const ref = withNumbers(c, x);
    const engines = { tfjs: withTfjs(c, x), onnx: await withOnnx(c, x) };
    for (const [engine, values] of Object.entries(engines))
      for (const [k, r] of Object.entries(ref)) {
        expect(r.every(Number.isFinite), `${k} is finite in float64`).toBe(true);
        const got = values[k];
        if (!got) throw new Error(`${engine} gave no ${k}`);
        const err = worst(got, r);
        if (process.env.DIFFIT_VERBOSE) console.log(`${c.name} ${engine} ${k}: ${err.toExponential(2)}`);
        expect(err, `${engine} ${k}`).toBeLessThanOrEqual(c.tolerance ?? TOLERANCE);
      }
  });

  it("covers every formula the modules export", () => {
    // Host-side helpers that loop over steps or call the formulas above on numbers; not formulas
    // of their own.
    const helpers = [
      "karrasSigmas",
      "betaSchedule",
      "cumulativeAlphas",
      "diffusionTables",
      "spaceTimesteps",
      "respacedBetas",
      "adamStepScalars",
    ];
    const exported = [edm, ddpm, schedule, adam, ema, guidance].flatMap((m) =>
      Object.entries(m)
        .filter(([name, v]) => typeof v === "function" && !helpers.includes(name))
        .map(([name]) => name),
    );
    const covered = new Set(cases.flatMap((c) => c.covers));
    expect(exported.filter((name) => !covered.has(name))).toEqual([]);
  });
});
