// The KServe v2 denoiser adapter against a v2 server of the test's own (Triton cannot run here)
// that serves an exported repository as its config.pbtxt declares it, in onnxruntime-node: the
// adapter's output equals a direct onnxruntime run of the same file, for the EDM denoiser
// (sigma) and a DDPM network (t), whole and split into batches; and each way a call fails (no
// server, a refusal with a v2 error body, an unknown model, a wrong output shape, a model that is
// no denoiser, wrong arguments) is an error that says what happened and what to do.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildGraph } from "../src/compiler/ir/build.ts";
import { KserveError, kserveReady } from "../src/runtime/deploy/kserve-client.ts";
import { connectKserveDenoiser } from "../src/runtime/deploy/kserve-denoiser.ts";
import { defaultDenoiserForm, writeTritonRepository } from "../src/runtime/deploy/triton-repository.ts";
import { perturbedValues } from "../src/runtime/init.ts";
import { Rng } from "../src/runtime/random.ts";
import { entryOf } from "./helpers/entry.ts";
import { startTestServer, type TestServer } from "./helpers/kserve-test-server.ts";
import { smallImage, smallLatent } from "./helpers/small-specs.ts";
import { scratchDir } from "./helpers/temp.ts";

const dir = scratchDir("triton-kserve");
const repo = join(dir, "models");
const servers: TestServer[] = [];
const SERVING = {
  maxBatchSize: 64,
  preferredBatchSizes: [],
  maxQueueDelayMicroseconds: 100,
  instanceKind: "cpu" as const,
  instanceCount: 1,
};

/** Exports with seeded weights plus N(0, 0.05²) noise, so zero-initialised output layers are live. */
function exportSpec(spec: Record<string, unknown>): void {
  const entry = entryOf(spec);
  writeTritonRepository(entry, repo, {
    opset: 17,
    fp16: false,
    denoiser: defaultDenoiserForm(entry.spec),
    weights: perturbedValues(buildGraph(entry.spec).params, 0.05, new Rng(3, "triton-kserve")),
    serving: { ...SERVING, name: entry.name },
  });
}

async function serve(name: string): Promise<TestServer> {
  const s = await startTestServer(repo, name);
  servers.push(s);
  return s;
}

beforeAll(() => {
  exportSpec({ ...smallImage("tmsa"), name: "edm-image" });
  exportSpec(smallLatent("adaln"));
}, 60_000);

afterAll(async () => {
  for (const s of servers.splice(0)) await s.close();
});

function uniform(rng: Rng, n: number, lo: number, hi: number): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rng.uniform());
}

/** The model run directly by onnxruntime on the server's session: what the adapter must return. */
async function direct(
  s: TestServer,
  x: Float32Array,
  noiseName: string,
  noise: Float32Array,
  labels: number[],
) {
  const [c, h, w] = s.config.inputs[0]?.dims ?? [];
  const n = noise.length;
  const feeds: Record<string, ort.Tensor> = {
    x: new ort.Tensor("float32", x, [n, c ?? 0, h ?? 0, w ?? 0]),
    [noiseName]: new ort.Tensor("float32", noise, [n]),
    y: new ort.Tensor(
      "int64",
      BigInt64Array.from(labels, (v) => BigInt(v)),
      [n],
    ),
  };
  return (await s.session.run(feeds)).out?.data as Float32Array;
}

const maxAbs = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] ?? Number.NaN))), 0);

describe("a diffit model served over KServe v2", () => {
  for (const [name, noiseName, lo, hi] of [
    ["edm-image", "sigma", 0.002, 80],
    ["latent-adaln", "t", 0, 999],
  ] as const) {
    it(`${name}: the adapter's output equals onnxruntime's on the same file (max abs ≤ 1e-6), whole and in batches of 2`, async () => {
      const s = await serve(name);
      expect(await kserveReady({ url: s.url, model: name })).toEqual({ ready: true });
      const remote = await connectKserveDenoiser({ url: s.url, model: name });
      const [c, h, w] = remote.info.inputShape;
      expect(remote.info).toMatchObject({ noiseInput: noiseName, conditional: true });
      const n = 3;
      const rng = new Rng(5, name);
      const x = uniform(rng, n * c * h * w, -2, 2);
      const noise = uniform(rng, n, lo, hi);
      const labels = [0, 7, 10]; // 10: the null class
      const want = await direct(s, x, noiseName, noise, labels);
      // A live network: outputs vary (a zero output layer would make the comparison empty).
      expect(Math.max(...want) - Math.min(...want)).toBeGreaterThan(0.1);
      // The wire carries float32 values as JSON numbers, whose shortest decimal form parses back
      // to the same double and so the same float32: the only difference left could come from
      // onnxruntime, which on one session and the same input is deterministic. 1e-6 on outputs of
      // order 1 allows no error beyond float32 rounding.
      const whole = await remote.denoise(x, noise, labels);
      expect(whole.length).toBe(n * remote.info.outputShape.reduce((a, b) => a * b, 1));
      expect(maxAbs(whole, want)).toBeLessThanOrEqual(1e-6);
      const split = await connectKserveDenoiser({ url: s.url, model: name, maxBatch: 2 });
      expect(maxAbs(await split.denoise(x, noise, Int32Array.from(labels)), want)).toBeLessThanOrEqual(1e-6);
      expect(s.batches.slice(-2).sort()).toEqual([1, 2]);
    });
  }

  it("no server: a message naming the URL and how to start one", async () => {
    const s = await startTestServer(repo, "edm-image");
    const url = s.url;
    await s.close();
    const target = { url, model: "edm-image", timeoutMs: 5000 };
    await expect(connectKserveDenoiser(target)).rejects.toThrow(KserveError);
    await expect(connectKserveDenoiser(target)).rejects.toThrow(
      new RegExp(
        `cannot reach the inference server at ${url}.*is it running\\? start it with tritonserver --model-repository`,
      ),
    );
    const ready = await kserveReady(target);
    expect(ready.ready).toBe(false);
  });

  it("refusals: the server's v2 error body in the message (a batch over max_batch_size, an unknown model)", async () => {
    const s = await serve("edm-image");
    const remote = await connectKserveDenoiser({ url: s.url, model: "edm-image" });
    const [c, h, w] = remote.info.inputShape;
    const n = s.config.maxBatchSize + 1;
    const call = remote.denoise(
      new Float32Array(n * c * h * w),
      new Float32Array(n).fill(1),
      new Array(n).fill(0),
    );
    await expect(call).rejects.toThrow(
      /infer answered 400: inference request batch-size must be <= 64 for 'edm-image'/,
    );
    const unknown = connectKserveDenoiser({ url: s.url, model: "nope" });
    await expect(unknown).rejects.toThrow(
      /v2\/models\/nope answered 404: Request for unknown model.*does the server's repository hold the model nope\?/,
    );
    const notReady = await kserveReady({ url: s.url, model: "nope" });
    expect(notReady).toMatchObject({ ready: false, reason: expect.stringMatching(/answered 404/) });
  });

  it("an answer of the wrong shape is refused, naming what came and what was expected", async () => {
    const s = await serve("edm-image");
    const remote = await connectKserveDenoiser({ url: s.url, model: "edm-image" });
    const [c, h, w] = remote.info.inputShape;
    s.tamper = (outputs) => outputs.map((o) => ({ ...o, shape: [o.shape[0] ?? 0, c * h * w] }));
    const call = remote.denoise(new Float32Array(2 * c * h * w), new Float32Array([1, 2]), [1, 2]);
    await expect(call).rejects.toThrow(
      new RegExp(
        `answered out as FP32 \\[2, ${c * h * w}\\] with ${2 * c * h * w} values, expected FP32 \\[2, ${c}, ${h}, ${w}\\]`,
      ),
    );
    s.tamper = () => [];
    await expect(remote.denoise(new Float32Array(c * h * w), new Float32Array([1]), [1])).rejects.toThrow(
      /answered without the output out/,
    );
  });

  it("a model that is no denoiser, and arguments that do not fit, are refused before any inference", async () => {
    const metadata = {
      name: "m",
      inputs: [{ name: "input_ids", datatype: "INT64", shape: [-1, 128] }],
      outputs: [],
    };
    const fake: typeof fetch = async () => new Response(JSON.stringify(metadata), { status: 200 });
    await expect(connectKserveDenoiser({ url: "http://h", model: "m", fetch: fake })).rejects.toThrow(
      /the model m at http:\/\/h is not a denoiser diffit exported: it needs an input x, FP32 \[-1, C, H, W\].*it has input_ids INT64 \[-1, 128\]/,
    );
    const s = await serve("edm-image");
    const remote = await connectKserveDenoiser({ url: s.url, model: "edm-image" });
    const before = s.batches.length;
    await expect(remote.denoise(new Float32Array(5), new Float32Array([1]), [0])).rejects.toThrow(
      /x has 5 values; 1 noise levels need/,
    );
    const one = new Float32Array(remote.info.inputShape.reduce((a, b) => a * b, 1));
    await expect(remote.denoise(one, new Float32Array([1]))).rejects.toThrow(
      /is class-conditional: give 1 labels/,
    );
    expect(s.batches.length).toBe(before);
  });

  it("the adapter is Node-free: its modules import only each other and errors.ts (which imports nothing)", () => {
    const allowed = ["./kserve-client.ts", "../../errors.ts"];
    for (const file of [
      "src/runtime/deploy/kserve-denoiser.ts",
      "src/runtime/deploy/kserve-client.ts",
      "src/errors.ts",
    ]) {
      const imports = [...readFileSync(file, "utf8").matchAll(/^import[^;]*?from\s+"([^"]+)"/gms)].map(
        (m) => m[1],
      );
      expect(
        imports.filter((i) => !allowed.includes(i ?? "")),
        file,
      ).toEqual([]);
    }
  });
});
