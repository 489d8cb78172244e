// The TypeScript back end (`diffit compile`): a generated module's `forward` computes exactly what
// the IR executor computes with the same weights; the committed generated/ is what the emitter
// produces now (the CI "up to date" check); and the generated files pass the type checker.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planCompile } from "../src/commands/compile.ts";
import {
  emitIndex,
  emitModule,
  literal,
  moduleFileName,
  PRIMITIVE_NAMES,
} from "../src/compiler/emit/ts/emit-ts.ts";
import { buildGraph } from "../src/compiler/ir/build.ts";
import type { Graph } from "../src/compiler/ir/types.ts";
import { type ResolvedEntry, runFrontEnd, specHash } from "../src/compiler/pipeline.ts";
import type { ResolvedSpec } from "../src/compiler/resolve-defaults.ts";
import { selectBackend } from "../src/runtime/backend.ts";
import { TfjsModel } from "../src/runtime/tfjs/model.ts";
import * as primitives from "../src/runtime/tfjs/primitives.ts";
import { specOf } from "./helpers/entry.ts";

const specFilesIn = (dir: string) =>
  readdirSync(dir)
    .filter((f) => /\.(json|ts)$/.test(f))
    .sort()
    .map((f) => `${dir}/${f}`);

const entriesOf = (files: readonly string[]): ResolvedEntry[] =>
  files.flatMap((f) => {
    const r = runFrontEnd(f);
    if (!r.ok) throw new Error(`${f}: ${JSON.stringify(r.diagnostics)}`);
    return r.entries;
  });

/**
 * The spec at test size for the cpu backend: one ResBlock per stage (image) or one block with a
 * small window (latent), and widths divided by 8 (every op and attention mode is kept).
 */
function reduced(spec: ResolvedSpec): ResolvedSpec {
  const narrow = (c: number) => Math.max(16, c / 8);
  const value =
    spec.family === "image"
      ? {
          ...spec,
          tokenizer: { ...spec.tokenizer, channels: narrow(spec.tokenizer.channels) },
          stages: spec.stages.map((s) => ({ ...s, depth: 1, channels: narrow(s.channels) })),
          time: { ...spec.time, sinusoidDim: 32, tokenDim: narrow(spec.time.tokenDim) },
        }
      : {
          ...spec,
          depth: 1,
          window: Math.min(spec.window, 4),
          hidden: 64,
          time: { ...spec.time, sinusoidDim: 32 },
        };
  return specOf(value);
}

interface GeneratedModule {
  name: string;
  specHash: string;
  paramShapes: Record<string, readonly number[]>;
  forward: (
    params: (name: string) => tf.Tensor,
    inputs: { x: tf.Tensor; t: tf.Tensor; y?: tf.Tensor },
  ) => tf.Tensor;
}

function inputsFor(g: Graph, n: number): { x: tf.Tensor; t: tf.Tensor; y?: tf.Tensor } {
  const x = g.nodes[g.inputs.x ?? -1]?.out.shape.slice(1) as number[];
  const inputs: { x: tf.Tensor; t: tf.Tensor; y?: tf.Tensor } = {
    x: tf.randomNormal([n, ...x], 0, 1, "float32", 1),
    t: tf.randomUniform([n], -1, 1, "float32", 2),
  };
  if (g.inputs.y !== undefined)
    inputs.y = tf.tensor1d(
      Array.from({ length: n }, (_, i) => i % 3),
      "int32",
    );
  return inputs;
}

const PRIMITIVES = resolve("src/runtime/tfjs/primitives.ts");
let dir = "";

beforeAll(async () => {
  await selectBackend("cpu");
  dir = mkdtempSync(join(tmpdir(), "diffit-generated-"));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the emitter", () => {
  it("names files safely and uniquely", () => {
    expect(moduleFileName("tiny-fmnist-sweep[depth=1,windowSize=2,mode=tmsa]")).toBe(
      "tiny-fmnist-sweep--depth-1--windowSize-2--mode-tmsa.ts",
    );
    expect(moduleFileName("a b/c")).toBe("a_b_c.ts");
  });

  it("calls only primitives the runtime facade exports", () => {
    const exported = primitives as unknown as Record<string, unknown>;
    for (const fn of Object.values(PRIMITIVE_NAMES)) expect(typeof exported[fn], fn).toBe("function");
  });

  it("writes config literals with bare identifier keys", () => {
    expect(literal({ a: 1, "b-c": [1, 2], d: { e: "x" } })).toBe(
      '{\n  a: 1,\n  "b-c": [1, 2],\n  d: {\n    e: "x",\n  },\n}',
    );
  });

  it("writes a typed registry", () => {
    const text = emitIndex([
      { name: "b", fileName: "b.ts" },
      { name: "a[x=1]", fileName: "a--x-1.ts" },
    ]);
    expect(text).toContain('"a[x=1]": () => import("./a--x-1.ts"),\n  "b": () => import("./b.ts"),');
    expect(text).toContain("export type ModelName = keyof typeof models;");
  });
});

describe("generated forward equals the IR executor (cpu, depth 1, widths ÷ 8, batch 2)", () => {
  // Every spec in specs/, and the sweep's five attention modes (time-independent only occurs there).
  const entries = [
    ...entriesOf(specFilesIn("specs")),
    ...entriesOf(specFilesIn("specs/sweeps")).filter((e) => e.name.includes("[depth=1,windowSize=2,")),
  ];
  for (const entry of entries) {
    it(entry.name, async () => {
      const spec = reduced(entry.spec);
      const graph = buildGraph(spec);
      const m = emitModule(
        { name: spec.name, file: `${entry.file} (depth reduced)`, spec, hash: specHash(spec) },
        { graph, runtimeModule: PRIMITIVES },
      );
      expect(m.text).toContain(`// Spec hash: ${specHash(spec)}`);
      const file = join(dir, m.fileName);
      writeFileSync(file, m.text);
      const mod = (await import(pathToFileURL(file).href)) as GeneratedModule;
      expect(mod.specHash).toBe(specHash(spec));
      expect(Object.keys(mod.paramShapes)).toEqual(graph.params.map((p) => p.name));

      const model = TfjsModel.create(graph, 7);
      try {
        const inputs = inputsFor(graph, 2);
        const params = (name: string) => {
          const v = model.variables.get(name);
          if (!v) throw new Error(`no variable ${name}`);
          return v;
        };
        const [want, got] = tf.tidy(() => [model.forward(inputs), mod.forward(params, inputs)]);
        if (!want || !got) throw new Error("no output");
        expect(got.shape).toEqual(want.shape);
        const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(got, want))).dataSync()[0] ?? Number.NaN);
        expect(diff).toBeLessThanOrEqual(1e-6); // 0 in practice: the same kernels in the same order
        expect(Number.isFinite(tf.tidy(() => tf.sum(want).dataSync()[0] ?? Number.NaN))).toBe(true);
        tf.dispose([want, got, inputs.x, inputs.t, ...(inputs.y ? [inputs.y] : [])]);
      } finally {
        model.dispose();
      }
    });
  }
});

describe("generated/", () => {
  it("is up to date: re-emitting every spec in specs/ and specs/sweeps/ reproduces it exactly", () => {
    const entries = entriesOf([...specFilesIn("specs"), ...specFilesIn("specs/sweeps")]);
    const plan = planCompile(entries, "generated");
    const want = new Map(plan.modules.map((m) => [m.fileName, m.text]));
    want.set("index.ts", plan.index);
    const committed = readdirSync("generated").filter((f) => f.endsWith(".ts"));
    expect(committed.sort()).toEqual([...want.keys()].sort());
    const stale = [...want].filter(([f, text]) => readFileSync(join("generated", f), "utf8") !== text);
    expect(
      stale.map(([f]) => f),
      "regenerate with: diffit compile specs/*.json specs/*.ts specs/sweeps/*.json -o generated",
    ).toEqual([]);
  });

  it("type-checks", () => {
    const tsc = resolve("node_modules/.bin/tsc");
    let output = "";
    try {
      execFileSync(tsc, ["--noEmit", "-p", "test/fixtures/generated/tsconfig.json"], { stdio: "pipe" });
    } catch (e) {
      output = String((e as { stdout?: Buffer }).stdout ?? e);
    }
    expect(output).toBe("");
  });
});
