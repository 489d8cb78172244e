// Every spec compiles to a tfjs model that runs forward and backward on wasm; the variables are
// exactly the IR's parameters; initialisation is seeded and follows the rules; training does not
// leak tensors.
import { readdirSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { analyze } from "../src/compiler/analysis.ts";
import { buildGraph } from "../src/compiler/ir/build.ts";
import type { Graph } from "../src/compiler/ir/types.ts";
import { runFrontEnd, validateInstance } from "../src/compiler/pipeline.ts";
import type { ResolvedSpec } from "../src/compiler/resolve-defaults.ts";
import { selectBackend } from "../src/runtime/backend.ts";
import { initialValues, sincos2d } from "../src/runtime/init.ts";
import { TfjsModel, variablePlan } from "../src/runtime/tfjs/model.ts";

beforeAll(async () => {
  await selectBackend("wasm");
});

const specFiles = readdirSync("specs")
  .filter((f) => /\.(json|ts)$/.test(f))
  .map((f) => `specs/${f}`);

/** The spec at test size: one ResBlock per stage, or one latent block with a small window (full widths). */
function reduced(spec: ResolvedSpec): Graph {
  const value =
    spec.family === "image"
      ? { ...spec, stages: spec.stages.map((s) => ({ ...s, depth: 1 })) }
      : { ...spec, depth: 1, window: Math.min(spec.window, 4) };
  const r = validateInstance(value);
  if (!r.spec) throw new Error(JSON.stringify(r.diagnostics));
  return buildGraph(r.spec);
}

function inputsFor(g: Graph, n: number) {
  const x = g.nodes[g.inputs.x ?? -1]?.out.shape.slice(1) as number[];
  return {
    x: tf.randomNormal([n, ...x]),
    t: tf.randomUniform([n], -1, 1),
    y:
      g.inputs.y === undefined
        ? undefined
        : tf.tensor1d(
            Array.from({ length: n }, (_, i) => i % 3),
            "int32",
          ),
  };
}

describe("every spec in specs/ trains on wasm (reduced depth, batch 1)", () => {
  for (const file of specFiles) {
    for (const entry of runFrontEnd(file).entries) {
      it(`${entry.name}: forward shape and finite gradients for every trainable variable`, () => {
        const g = reduced(entry.spec);
        const model = TfjsModel.create(g, 0);
        const inputs = inputsFor(g, 1);
        const { value, grads } = tf.variableGrads(
          () => tf.mean(tf.square(model.forward(inputs, { training: true }))) as tf.Scalar,
          model.trainableVariables,
        );
        const outShape = tf.tidy(() => model.forward(inputs).shape);
        expect(outShape.slice(1)).toEqual(g.nodes[g.outputs.out ?? -1]?.out.shape.slice(1));
        expect(Number.isFinite(value.dataSync()[0])).toBe(true);
        expect(Object.keys(grads).length).toBe(model.trainableVariables.length);
        for (const gr of Object.values(grads)) expect(Number.isFinite(tf.sum(gr).dataSync()[0])).toBe(true);
        tf.dispose([value, ...Object.values(grads), inputs.x, inputs.t, ...(inputs.y ? [inputs.y] : [])]);
        model.dispose();
      }, 60_000); // full-width FFHQ and ImageNet-512 models take ~10 s on wasm
    }
  }
});

describe("variables equal the IR's parameters", () => {
  for (const file of specFiles) {
    it(`${file} at full size, without allocating`, () => {
      for (const e of runFrontEnd(file).entries) {
        const g = buildGraph(e.spec);
        const plan = variablePlan(g);
        const count = plan.reduce((n, v) => n + v.shape.reduce((a, b) => a * b, 1), 0);
        expect(count).toBe(analyze(g).totals.params);
        expect(new Set(plan.map((v) => v.name)).size).toBe(plan.length);
      }
    });
  }
});

describe("initialisation", () => {
  const r = validateInstance({
    family: "latent",
    name: "i",
    input: { size: 8, channels: 4 },
    hidden: 32,
    depth: 1,
    heads: 4,
  });
  if (!r.spec) throw new Error("bad spec");
  const g = buildGraph(r.spec);
  const param = (name: string) => {
    const p = g.params.find((x) => x.name === name);
    if (!p) throw new Error(`no ${name}`);
    return p;
  };

  it("is deterministic per seed and parameter name", () => {
    const p = param("blocks.0.attn.qkv.weight");
    expect(initialValues(p, 7)).toEqual(initialValues(p, 7));
    expect(initialValues(p, 7)).not.toEqual(initialValues(p, 8));
  });

  it("keeps Xavier-uniform weights inside ±√(6/(fan_in+fan_out)) with the uniform's variance", () => {
    const p = param("blocks.0.mlp.fc1.weight"); // [32, 128]
    const v = initialValues(p, 1);
    const limit = Math.sqrt(6 / (32 + 128));
    expect(Math.max(...v.map(Math.abs))).toBeLessThanOrEqual(limit);
    const variance = v.reduce((s, x) => s + x * x, 0) / v.length;
    // U(−a, a) has variance a²/3; with 4096 draws the estimate is within ~5% (2.2 standard errors).
    expect(Math.abs(variance / (limit ** 2 / 3) - 1)).toBeLessThan(0.05);
  });

  it("truncates the relative-position table at 2σ (σ = 0.02) and zeroes the final layer", () => {
    const table = initialValues(param("blocks.0.attn.relative_position_bias_table"), 1);
    expect(Math.max(...table.map(Math.abs))).toBeLessThanOrEqual(0.04);
    expect(initialValues(param("final_layer.linear.weight"), 1).every((x) => x === 0)).toBe(true);
  });

  it("builds the DiT sin-cos table: columns in the first half, rows in the second, [sin | cos]", () => {
    const t = sincos2d(4, 8); // quarter = 2: frequencies 1 and 1/100
    const at = (row: number, col: number, k: number) => t[(row * 4 + col) * 8 + k] ?? Number.NaN;
    // token (row 1, col 2): sin(2), sin(2/100), cos(2), cos(2/100), sin(1), sin(1/100), cos(1), cos(1/100)
    const expected = [
      Math.sin(2),
      Math.sin(0.02),
      Math.cos(2),
      Math.cos(0.02),
      Math.sin(1),
      Math.sin(0.01),
      Math.cos(1),
      Math.cos(0.01),
    ];
    for (let k = 0; k < 8; k++) expect(at(1, 2, k)).toBeCloseTo(expected[k] ?? 0, 6);
  });
});

describe("inference with release", () => {
  it("gives the same output and leaves no intermediate behind", () => {
    const r = runFrontEnd("specs/tiny-fmnist.json").entries[0];
    if (!r) throw new Error("no spec");
    const model = TfjsModel.create(buildGraph(r.spec), 0);
    for (const v of model.trainableVariables) v.assign(tf.randomNormal(v.shape, 0, 0.1));
    const inputs = inputsFor(model.graph, 2);
    tf.dispose(model.forward(inputs, { release: true })); // creates the cached index constants
    const before = tf.memory().numTensors;
    const kept = model.forward(inputs, { release: true });
    expect(tf.memory().numTensors).toBe(before + 1);
    const plain = tf.tidy(() => model.forward(inputs));
    expect(tf.max(tf.abs(tf.sub(kept, plain))).dataSync()[0]).toBe(0);
    tf.dispose([kept, plain, inputs.x, inputs.t, ...(inputs.y ? [inputs.y] : [])]);
    model.dispose();
  });
});

describe("no leaks", () => {
  it("tf.memory().numTensors stays constant over 20 training steps", () => {
    const r = runFrontEnd("specs/tiny-fmnist.json").entries[0];
    if (!r) throw new Error("no spec");
    const g = buildGraph(r.spec);
    const model = TfjsModel.create(g, 0);
    const optimizer = tf.train.adam(1e-3);
    const inputs = inputsFor(g, 2);
    const target = tf.randomNormal([2, 32, 32, 1]);
    const step = () =>
      optimizer.minimize(
        () => tf.mean(tf.square(tf.sub(model.forward(inputs, { training: true }), target))) as tf.Scalar,
        false,
        model.trainableVariables,
      );
    step(); // the optimizer allocates its moments on the first step
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    optimizer.dispose();
    model.dispose();
  });
});
