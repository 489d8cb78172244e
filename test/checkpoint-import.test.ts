// Importing the official latent DiffiT state_dict (issue 7). A synthetic checkpoint with the
// official names and random values, at test size, is written as safetensors and as a torch.save
// zip (pickle protocol 2, written by test/helpers/pickle-writer.ts; non-contiguous views and
// shared storages included). The imported model must compute what a naive float64
// implementation of the official forward computes, export to a verified ONNX file, and export
// back to the official naming unchanged. Hostile or mismatched files must be refused by name.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { PNG } from "pngjs";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli.ts";
import { onnx } from "../src/compiler/emit/onnx/proto.ts";
import { buildGraph } from "../src/compiler/ir/build.ts";
import { runFrontEnd } from "../src/compiler/pipeline.ts";
import { toFloat16 } from "../src/compiler/tensor/graph.ts";
import { selectBackend } from "../src/runtime/backend.ts";
import { loadWeights } from "../src/runtime/checkpoint/model-checkpoint.ts";
import { officialKeys } from "../src/runtime/checkpoint/official-naming.ts";
import {
  encodeSafetensors,
  readSafetensors,
  type StoredTensor,
} from "../src/runtime/checkpoint/safetensors.ts";
import { readStateDict } from "../src/runtime/checkpoint/state-dict.ts";
import { exportOnnx } from "../src/runtime/onnx/export-model.ts";
import { decodeLatents } from "../src/runtime/onnx/vae-decoder.ts";
import { verifyOnnx } from "../src/runtime/onnx/verify.ts";
import { Rng } from "../src/runtime/random.ts";
import { TfjsModel } from "../src/runtime/tfjs/model.ts";
import {
  type OfficialConfig,
  type OfficialStateDict,
  officialForward,
  randomStateDict,
  SMALL_CONFIG,
} from "./helpers/official-diffit.ts";
import {
  contiguousStrides,
  global,
  orderedDict,
  type PyValue,
  type Storage,
  type TorchDType,
  tensorRef,
  torchZip,
  tuple,
  writePickle,
} from "./helpers/pickle-writer.ts";

const SPEC = "test/fixtures/checkpoint-import/latent-small.json";
const OUT = "out/test-checkpoint-import";
mkdirSync(OUT, { recursive: true });

const CONFIG: OfficialConfig = SMALL_CONFIG;

async function run(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(["node", "diffit", ...args], { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join(""), err: err.join("") };
}

function entry() {
  const e = runFrontEnd(SPEC).entries[0];
  if (!e) throw new Error(`${SPEC} did not resolve`);
  return e;
}

// ---- writing official checkpoints ----

function storedBytes(t: OfficialStateDict extends Map<string, infer T> ? T : never): StoredTensor {
  if (t.dtype === "I64") {
    const v = BigInt64Array.from(t.values, (x) => BigInt(x));
    return { dtype: "I64", shape: t.shape, bytes: new Uint8Array(v.buffer) };
  }
  const v = Float32Array.from(t.values);
  return { dtype: "F32", shape: t.shape, bytes: new Uint8Array(v.buffer) };
}

function writeSafetensorsSd(path: string, sd: OfficialStateDict, prefix = ""): void {
  const tensors = new Map<string, StoredTensor>();
  for (const [name, t] of sd) tensors.set(prefix + name, storedBytes(t));
  writeFileSync(path, encodeSafetensors({ tensors, metadata: { format: "pt" } }));
}

/** bfloat16 bits of a float32, rounded to nearest even as torch does. */
function toBFloat16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(Float32Array.from(values).buffer);
  return Uint16Array.from(bits, (b) => (b + 0x7fff + ((b >>> 16) & 1)) >>> 16);
}

interface SaveOptions {
  /** 2-D tensors stored as transposed views: storage holds Wᵀ, the tensor has strides (1, rows). */
  transposed?: Set<string>;
  /** Put every 1-D tensor into one shared storage, each at its own offset. */
  packVectors?: boolean;
  /** Storage type of the float tensors. */
  floatType?: TorchDType;
}

function floatBytes(values: Float32Array | Float64Array, dtype: TorchDType): Uint8Array {
  if (dtype === "F16") return new Uint8Array(toFloat16(Float32Array.from(values)).buffer);
  if (dtype === "BF16") return new Uint8Array(toBFloat16(Float32Array.from(values)).buffer);
  if (dtype === "I64") return new Uint8Array(BigInt64Array.from(values, (x) => BigInt(x)).buffer);
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** The state_dict as torch.save pickles it, with its storages. */
function stateDictPickle(
  sd: OfficialStateDict,
  storages: Map<string, Storage>,
  o: SaveOptions = {},
): PyValue {
  const floatType = o.floatType ?? "F32";
  const entries: [PyValue, PyValue][] = [];
  // Vectors packed into one storage: offsets are known once all of them are laid out.
  const packed: number[] = [];
  const packedAt = new Map<string, number>();
  if (o.packVectors) {
    for (const [name, t] of sd) {
      if (t.shape.length !== 1) continue;
      packedAt.set(name, packed.length);
      packed.push(...t.values);
    }
    storages.set("shared", { dtype: floatType, bytes: floatBytes(Float32Array.from(packed), floatType) });
  }
  for (const [name, t] of sd) {
    const dtype = t.dtype === "I64" ? "I64" : floatType;
    const offset = packedAt.get(name);
    const shared = storages.get("shared");
    if (offset !== undefined && shared) {
      entries.push([name, tensorRef("shared", shared, offset, t.shape, [1])]);
      continue;
    }
    const key = String(storages.size);
    if (o.transposed?.has(name) && t.shape.length === 2) {
      const [rows = 0, cols = 0] = t.shape;
      const tr = new Float32Array(t.values.length);
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++) tr[c * rows + r] = t.values[r * cols + c] ?? 0;
      const s = { dtype, bytes: floatBytes(tr, dtype) };
      storages.set(key, s);
      entries.push([name, tensorRef(key, s, 0, t.shape, [1, rows])]);
      continue;
    }
    const s = { dtype, bytes: floatBytes(t.values, dtype) };
    storages.set(key, s);
    entries.push([name, tensorRef(key, s, 0, t.shape, contiguousStrides(t.shape))]);
  }
  // nn.Module.state_dict() attaches per-module versions as `_metadata`, pickled as BUILD state.
  const metadata = orderedDict([["", { py: "dict", entries: [["version", 1]] }]]);
  return orderedDict(entries, { py: "dict", entries: [["_metadata", metadata]] });
}

function writeTorchSd(path: string, sd: OfficialStateDict, o: SaveOptions = {}): void {
  const storages = new Map<string, Storage>();
  const root = stateDictPickle(sd, storages, o);
  writeFileSync(path, torchZip(writePickle(root), storages));
}

// ---- the model under test ----

interface Inputs {
  n: number;
  /** NCHW, for the official forward. */
  xNchw: Float64Array;
  /** NHWC, for tfjs. */
  xNhwc: Float32Array;
  t: number[];
  y: number[];
}

function inputs(): Inputs {
  const { inputSize: S, inChannels: C } = CONFIG;
  const rng = new Rng(3, "checkpoint-import-inputs");
  const n = 3;
  const xNchw = Float64Array.from({ length: n * C * S * S }, () => rng.normal());
  const xNhwc = new Float32Array(xNchw.length);
  for (let b = 0; b < n; b++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < S * S; i++) xNhwc[(b * S * S + i) * C + c] = xNchw[(b * C + c) * S * S + i] ?? 0;
  // The null class (10) is a valid input: the unconditional half of guidance.
  return { n, xNchw, xNhwc, t: [0, 437, 999], y: [0, 7, 10] };
}

/** Max |tfjs − official| over the batch, both as NCHW. */
function maxDifference(weights: Map<string, Float32Array>, sd: OfficialStateDict): number {
  const { inputSize: S, inChannels: C } = CONFIG;
  const Co = 2 * C;
  const inp = inputs();
  const model = TfjsModel.fromWeights(buildGraph(entry().spec), weights);
  const got = tf.tidy(() =>
    model
      .forward({
        x: tf.tensor4d(inp.xNhwc, [inp.n, S, S, C]),
        t: tf.tensor1d(inp.t),
        y: tf.tensor1d(inp.y, "int32"),
      })
      .dataSync(),
  );
  model.dispose();
  let worst = 0;
  let scale = 0;
  for (let b = 0; b < inp.n; b++) {
    const x = inp.xNchw.subarray(b * C * S * S, (b + 1) * C * S * S);
    const want = officialForward(sd, CONFIG, x, inp.t[b] ?? 0, inp.y[b] ?? 0);
    for (let c = 0; c < Co; c++)
      for (let i = 0; i < S * S; i++) {
        const g = got[(b * S * S + i) * Co + c] ?? Number.NaN;
        const w = want[c * S * S + i] ?? 0;
        worst = Math.max(worst, Math.abs(g - w));
        scale = Math.max(scale, Math.abs(w));
      }
  }
  // Outputs of order one: the comparison would be vacuous on a dead network.
  expect(scale).toBeGreaterThan(0.1);
  return worst;
}

beforeAll(async () => {
  await selectBackend("wasm");
});

describe("the official naming of the full-size model", () => {
  it("has the keys and shapes of DIFFIT.md §8 for latent-diffit-imagenet256", () => {
    const e = runFrontEnd("specs/latent-diffit-imagenet256.json").entries[0];
    if (!e) throw new Error("spec did not resolve");
    const keys = new Map(officialKeys(buildGraph(e.spec)).map((k) => [k.name, k]));
    // C = 1152, p = 2, Cin = 4, Cout = 8, K = 1001, W = 16, h = 16, r = 4; 10 keys, 28 blocks of 12.
    expect(keys.size).toBe(10 + 28 * 12);
    const shape = (name: string) => keys.get(name)?.shape;
    expect(shape("x_embedder.proj.weight")).toEqual([1152, 4, 2, 2]);
    expect(shape("x_embedder.proj.bias")).toEqual([1152]);
    expect(shape("pos_embed")).toEqual([1, 256, 1152]);
    expect(shape("t_embedder.mlp.0.weight")).toEqual([1152, 256]);
    expect(shape("t_embedder.mlp.2.weight")).toEqual([1152, 1152]);
    expect(shape("y_embedder.embedding_table.weight")).toEqual([1001, 1152]);
    expect(shape("blocks.27.attn.qkv.weight")).toEqual([3456, 1152]);
    expect(shape("blocks.27.attn.qkv_temb.weight")).toEqual([3456, 1152]);
    expect(shape("blocks.27.attn.qkv_temb.bias")).toEqual([3456]);
    expect(shape("blocks.27.attn.relative_position_bias_table")).toEqual([961, 16]);
    expect(keys.get("blocks.27.attn.relative_position_index")).toMatchObject({
      shape: [256, 256],
      dtype: "I64",
    });
    expect(shape("blocks.27.attn.proj.weight")).toEqual([1152, 1152]);
    expect(shape("blocks.27.mlp.fc1.weight")).toEqual([4608, 1152]);
    expect(shape("blocks.27.mlp.fc2.weight")).toEqual([1152, 4608]);
    expect(shape("final_layer.linear.weight")).toEqual([32, 1152]);
    expect(shape("final_layer.linear.bias")).toEqual([32]);
    expect([...keys.keys()].some((k) => k.includes("norm"))).toBe(false);
  });
});

describe("diffit import: official latent DiffiT state_dicts", () => {
  const sd = randomStateDict(CONFIG, 1);
  const linearWeights = [...sd.keys()].filter((k) => /(qkv|qkv_temb|proj|fc1|fc2|mlp\.0)\.weight$/.test(k));

  it("imports a safetensors file and matches the naive official forward within 1e-4", async () => {
    const file = join(OUT, "official.safetensors");
    writeSafetensorsSd(file, sd);
    const ck = join(OUT, "from-safetensors.safetensors");
    const r = await run("import", file, "--spec", SPEC, "-o", ck);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain("3 derivable buffer(s) match");
    const { weights, metadata } = loadWeights(ck, buildGraph(entry().spec));
    expect(metadata.importedFrom).toBe("official.safetensors");
    expect(maxDifference(weights, sd)).toBeLessThan(1e-4);
  });

  it("imports a torch.save zip (strided views, shared storage, _metadata) to the same weights", async () => {
    const file = join(OUT, "official.pt");
    writeTorchSd(file, sd, { transposed: new Set(linearWeights), packVectors: true });
    const ck = join(OUT, "from-pt.safetensors");
    const r = await run("import", file, "--spec", SPEC, "-o", ck, "--json");
    expect(r.code).toBe(0);
    const info = JSON.parse(r.out) as { format: string; tensors: number; checked: string[] };
    expect(info.format).toBe("torch-zip");
    expect(info.tensors).toBe(sd.size);
    expect(info.checked).toEqual([
      "pos_embed",
      "blocks.0.attn.relative_position_index",
      "blocks.1.attn.relative_position_index",
    ]);
    const graph = buildGraph(entry().spec);
    const fromPt = loadWeights(ck, graph).weights;
    const fromSt = loadWeights(join(OUT, "from-safetensors.safetensors"), graph).weights;
    for (const [name, w] of fromSt) expect(fromPt.get(name), name).toEqual(w);
    expect(maxDifference(fromPt, sd)).toBeLessThan(1e-4);
  });

  it("exports the imported model to ONNX, which verifies against tfjs", async () => {
    const graph = buildGraph(entry().spec);
    const { weights } = loadWeights(join(OUT, "from-pt.safetensors"), graph);
    const path = join(OUT, "imported.onnx");
    exportOnnx(entry(), path, { opset: 17, fp16: false, denoiser: "raw", weights });
    const v = await verifyOnnx(path, weights);
    expect(v.passed, JSON.stringify(v.rows)).toBe(true);
    const cli = await run("verify", path, "--checkpoint", join(OUT, "from-pt.safetensors"));
    expect(cli.code).toBe(0);
  });

  it("export-weights --naming official writes the official file back; import ∘ export is the identity", async () => {
    const ck = join(OUT, "from-pt.safetensors");
    const official = join(OUT, "exported-official.safetensors");
    const r = await run("export-weights", ck, "--naming", "official", "-o", official);
    expect(r.code, r.err).toBe(0);
    const back = readSafetensors(official).tensors;
    expect([...back.keys()].sort()).toEqual([...sd.keys()].sort());
    for (const [name, t] of sd) {
      const got = back.get(name);
      expect(got?.shape, name).toEqual(t.shape);
      expect(Buffer.from(got?.bytes ?? []).equals(Buffer.from(storedBytes(t).bytes)), name).toBe(true);
    }
    const again = join(OUT, "reimported.safetensors");
    expect((await run("import", official, "--spec", SPEC, "-o", again)).code).toBe(0);
    const graph = buildGraph(entry().spec);
    const a = loadWeights(ck, graph).weights;
    const b = loadWeights(again, graph).weights;
    for (const [name, w] of a) expect(b.get(name), name).toEqual(w);
  });

  it("selects the state_dict of a nested checkpoint with --key", async () => {
    const ema = randomStateDict(CONFIG, 2);
    const storages = new Map<string, Storage>();
    const root: PyValue = {
      py: "dict",
      entries: [
        ["model", stateDictPickle(sd, storages)],
        ["ema", stateDictPickle(ema, storages)],
        ["steps", 400000],
        ["lr", { py: "float", value: 1e-4 }],
        ["betas", tuple({ py: "float", value: 0.9 }, { py: "float", value: 0.999 })],
        ["history", { py: "list", items: [1, 2, 70000, -3, 2 ** 40] }],
      ],
    };
    const file = join(OUT, "nested.pt");
    writeFileSync(file, torchZip(writePickle(root), storages));

    const refused = await run("import", file, "--spec", SPEC, "-o", join(OUT, "nested-none.safetensors"));
    expect(refused.code).toBe(2);
    expect(refused.err).toContain("choose one with --key (model, ema)");

    const missing = await run(
      "import",
      file,
      "--spec",
      SPEC,
      "-o",
      join(OUT, "x.safetensors"),
      "--key",
      "emma",
    );
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('has no entry "emma"');

    const ck = join(OUT, "nested-ema.safetensors");
    expect((await run("import", file, "--spec", SPEC, "-o", ck, "--key", "ema")).code).toBe(0);
    const w = loadWeights(ck, buildGraph(entry().spec)).weights;
    expect(w.get("y_embedder.embedding_table.weight")).toEqual(
      ema.get("y_embedder.embedding_table.weight")?.values,
    );

    // A flat file with prefixed names (an EMA copy saved beside the model, or DDP's "module.").
    const prefixed = join(OUT, "prefixed.safetensors");
    writeSafetensorsSd(prefixed, sd, "module.");
    const plain = await run("import", prefixed, "--spec", SPEC, "-o", join(OUT, "x.safetensors"));
    expect(plain.code).toBe(1);
    expect(plain.err).toContain("hint: the names carry a prefix: import with --key module");
    expect(
      (await run("import", prefixed, "--spec", SPEC, "-o", join(OUT, "x.safetensors"), "--key", "module"))
        .code,
    ).toBe(0);
  });

  it("reads float16 and bfloat16 storages, widening them exactly", async () => {
    for (const floatType of ["F16", "BF16"] as const) {
      const file = join(OUT, `official-${floatType}.pt`);
      writeTorchSd(file, sd, { floatType });
      expect(readStateDict(file).tensors.get("blocks.1.mlp.fc1.weight")?.dtype).toBe(floatType);
      const ck = join(OUT, `from-${floatType}.safetensors`);
      const r = await run("import", file, "--spec", SPEC, "-o", ck);
      expect(r.code, r.err).toBe(0);
      const got = loadWeights(ck, buildGraph(entry().spec)).weights.get("y_embedder.embedding_table.weight");
      const want = sd.get("y_embedder.embedding_table.weight")?.values ?? new Float32Array();
      // Relative rounding of the narrow types: 2^-11 (float16), 2^-8 (bfloat16), here bounded by 2^-7.
      for (let i = 0; i < want.length; i++)
        expect(Math.abs((got?.[i] ?? 0) - (want[i] ?? 0))).toBeLessThanOrEqual(
          Math.abs(want[i] ?? 0) * 2 ** -7,
        );
    }
  });
});

describe("diffit import refuses what it must not load", () => {
  const sd = randomStateDict(CONFIG, 1);

  async function importPickle(name: string, pickle: Uint8Array) {
    const file = join(OUT, name);
    writeFileSync(file, torchZip(pickle, new Map()));
    return run("import", file, "--spec", SPEC, "-o", join(OUT, "refused.safetensors"));
  }

  it("refuses a global that is not part of a state_dict, naming it (os.system, builtins.eval)", async () => {
    const system = await importPickle(
      "os-system.pt",
      writePickle({ py: "reduce", callable: global("os", "system"), args: ["touch out/pwned"] }),
    );
    expect(system.code).toBe(1);
    expect(system.err).toContain("the global os.system");
    expect(system.err).toContain("never executed");

    // Protocol 4 spells globals with STACK_GLOBAL: SHORT_BINUNICODE "builtins", "eval", STACK_GLOBAL.
    const enc = (s: string) => [0x8c, s.length, ...new TextEncoder().encode(s)];
    const evalPickle = Uint8Array.from([
      0x80,
      4,
      ...enc("builtins"),
      ...enc("eval"),
      0x93,
      ...enc("1+1"),
      0x85,
      0x52,
      0x2e,
    ]);
    const ev = await importPickle("eval.pt", evalPickle);
    expect(ev.code).toBe(1);
    expect(ev.err).toContain("the global builtins.eval");

    // A storage type outside the allow-list is refused the same way.
    const double = await importPickle(
      "double.pt",
      writePickle({ py: "persid", pid: tuple("storage", global("torch", "DoubleStorage"), "0", "cpu", 1) }),
    );
    expect(double.err).toContain("the global torch.DoubleStorage");
  });

  it("refuses opcodes a state_dict pickle does not use", async () => {
    // INST (0x69) imports and calls a class in one opcode; 0xff is not an opcode at all.
    const inst = await importPickle(
      "inst.pt",
      Uint8Array.from([0x80, 2, 0x28, 0x69, ...new TextEncoder().encode("os\nsystem\n"), 0x2e]),
    );
    expect(inst.code).toBe(1);
    expect(inst.err).toMatch(/INST \(0x69\) is not accepted.*\(byte 3\)/);
    const unknown = await importPickle("unknown.pt", Uint8Array.from([0x80, 2, 0xff, 0x2e]));
    expect(unknown.err).toContain("unknown opcode (0xff)");
    const newobj = await importPickle("newobj.pt", writePickle({ py: "raw", bytes: [0x29, 0x29, 0x81] }));
    expect(newobj.err).toContain("NEWOBJ (0x81)");
    const long = await importPickle(
      "long.pt",
      Uint8Array.from([0x80, 2, 0x8b, 100, 0, 0, 0, ...new Array<number>(100).fill(1), 0x2e]),
    );
    expect(long.err).toContain("a 100-byte integer is longer than a checkpoint needs");
  });

  it("lists missing and unexpected keys, with hints", async () => {
    const broken: OfficialStateDict = new Map(sd);
    broken.delete("blocks.1.mlp.fc2.bias");
    broken.delete("final_layer.linear.weight");
    const extra = sd.get("blocks.1.mlp.fc2.bias");
    if (extra) broken.set("blocks.1.attn.q_norm.weight", extra);
    const file = join(OUT, "broken-keys.safetensors");
    writeSafetensorsSd(file, broken);
    const r = await run("import", file, "--spec", SPEC, "-o", join(OUT, "refused.safetensors"));
    expect(r.code).toBe(1);
    expect(r.err).toContain("(3 problem(s))");
    expect(r.err).toContain("missing blocks.1.mlp.fc2.bias (64,)");
    expect(r.err).toContain("missing final_layer.linear.weight (32, 64)");
    expect(r.err).toContain(
      "unexpected blocks.1.attn.q_norm.weight (64,): no parameter of the spec takes it",
    );

    const json = await run("import", file, "--spec", SPEC, "-o", join(OUT, "refused.safetensors"), "--json");
    expect(json.code).toBe(1);
    const report = JSON.parse(json.out) as { ok: boolean; problems: { kind: string; key: string }[] };
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => [p.kind, p.key])).toEqual([
      ["missing", "blocks.1.mlp.fc2.bias"],
      ["missing", "final_layer.linear.weight"],
      ["unexpected", "blocks.1.attn.q_norm.weight"],
    ]);

    const deeper = randomStateDict({ ...CONFIG, depth: 3 }, 1);
    const deepFile = join(OUT, "depth3.safetensors");
    writeSafetensorsSd(deepFile, deeper);
    const d = await run("import", deepFile, "--spec", SPEC, "-o", join(OUT, "refused.safetensors"));
    expect(d.err).toContain("unexpected blocks.2.attn.qkv.weight (192, 64)");
    expect(d.err).toContain("hint: the checkpoint has 3 blocks, the spec depth is 2");
  });

  it("names wrong shapes in PyTorch's layout", async () => {
    const wrong = randomStateDict({ ...CONFIG, classes: 1000 }, 1);
    wrong.set("blocks.0.attn.qkv.weight", {
      dtype: "F32",
      shape: [64, 192],
      values: new Float32Array(64 * 192),
    });
    const file = join(OUT, "wrong-shapes.safetensors");
    writeSafetensorsSd(file, wrong);
    const r = await run("import", file, "--spec", SPEC, "-o", join(OUT, "refused.safetensors"));
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      "blocks.0.attn.qkv.weight: shape (64, 192) in the checkpoint, the spec needs (192, 64)",
    );
    expect(r.err).toContain(
      "y_embedder.embedding_table.weight: shape (1001, 64) in the checkpoint, the spec needs (11, 64)",
    );
    expect(r.err).toContain("hint: the checkpoint's label table has 1001 rows (1000 classes + null)");
  });

  it("checks derivable buffers against the project's own values instead of copying them", async () => {
    const index = sd.get("blocks.1.attn.relative_position_index");
    const pos = sd.get("pos_embed");
    if (!index || !pos) throw new Error("fixture lacks buffers");
    // A column-major token order gives a valid-looking index that means something else.
    const colMajor = index.values.map((_, k) => {
      const n = 16;
      const i = Math.floor(k / n);
      const j = k % n;
      const ti = (i % 4) * 4 + Math.floor(i / 4);
      const tj = (j % 4) * 4 + Math.floor(j / 4);
      return index.values[ti * n + tj] ?? 0;
    });
    // [cos | sin] instead of [sin | cos] in each half.
    const swapped = pos.values.map((_, k) => {
      const q = 16;
      const within = k % 64;
      const base = k - within;
      const half = within < 32 ? 0 : 32;
      const r = within - half;
      return pos.values[base + half + ((r + q) % 32)] ?? 0;
    });
    const bad: OfficialStateDict = new Map(sd);
    bad.set("blocks.1.attn.relative_position_index", { ...index, values: Float64Array.from(colMajor) });
    bad.set("pos_embed", { ...pos, values: Float32Array.from(swapped) });
    const file = join(OUT, "bad-buffers.pt");
    writeTorchSd(file, bad);
    const r = await run("import", file, "--spec", SPEC, "-o", join(OUT, "refused.safetensors"));
    expect(r.code).toBe(1);
    expect(r.err).toContain("(2 problem(s))");
    expect(r.err).toContain(
      "blocks.1.attn.relative_position_index: differs from the Swin relative-position index",
    );
    expect(r.err).toContain("pos_embed: differs from the sincos-2d table this project computes");
  });

  it("refuses strided views that read past their storage, and legacy or foreign files", async () => {
    const storage: Storage = { dtype: "F32", bytes: new Uint8Array(16) };
    const pickle = writePickle(orderedDict([["w", tensorRef("0", storage, 2, [2, 2], [2, 1])]]));
    const file = join(OUT, "overrun.pt");
    writeFileSync(file, torchZip(pickle, new Map([["0", storage]])));
    expect(() => readStateDict(file)).toThrow(/reads past storage 0 of 4 elements/);

    const legacy = join(OUT, "legacy.pt");
    writeFileSync(
      legacy,
      Uint8Array.from([
        0x80, 2, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
      ]),
    );
    const r = await run("import", legacy, "--spec", SPEC, "-o", join(OUT, "refused.safetensors"));
    expect(r.code).toBe(1);
    expect(r.err).toContain("legacy (pre-1.6) torch.save file");

    const image = await run(
      "import",
      join(OUT, "official.safetensors"),
      "--spec",
      "specs/tiny-fmnist.json",
      "-o",
      join(OUT, "refused.safetensors"),
    );
    expect(image.code).toBe(2);
    expect(image.err).toContain("official checkpoints exist for the latent DiffiT only");
    expect(readFileSync(join(OUT, "official.safetensors")).byteLength).toBeGreaterThan(0);
  });
});

// ---- from the imported checkpoint to class-conditional samples ----

/**
 * A stand-in VAE decoder: a 1×1 convolution 4 → 12 channels, then DepthToSpace(2), so
 * [N, 4, h, w] latents become [N, 3, 2h, 2w] images with values the test can compute.
 */
function writeToyDecoder(path: string, weight: Float32Array): void {
  const model = {
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    producerName: "checkpoint-import.test",
    graph: {
      name: "toy-vae-decoder",
      input: [valueInfo("latent_sample", ["batch", 4, "h", "w"])],
      output: [valueInfo("sample", ["batch", 3, "H", "W"])],
      initializer: [
        {
          name: "w",
          dims: [12, 4, 1, 1],
          dataType: onnx.TensorProto.DataType.FLOAT,
          rawData: new Uint8Array(weight.buffer),
        },
      ],
      node: [
        { opType: "Conv", input: ["latent_sample", "w"], output: ["features"] },
        {
          opType: "DepthToSpace",
          input: ["features"],
          output: ["sample"],
          attribute: [{ name: "blocksize", type: onnx.AttributeProto.AttributeType.INT, i: 2 }],
        },
      ],
    },
  };
  writeFileSync(path, onnx.ModelProto.encode(model).finish());
}

function valueInfo(name: string, dims: (number | string)[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

describe("class-conditional samples from the imported checkpoint", () => {
  const rng = new Rng(5, "toy-decoder");
  const weight = Float32Array.from({ length: 48 }, () => rng.normal() * 0.1);
  const decoder = join(OUT, "toy-vae-decoder.onnx");
  writeToyDecoder(decoder, weight);

  it("decodes latents ÷ 0.18215 with a VAE decoder ONNX file", async () => {
    const h = 3;
    const latents = Float32Array.from({ length: 2 * h * h * 4 }, () => rng.normal());
    const d = await decodeLatents(decoder, latents, 2, h, h, 4);
    expect([d.height, d.width, d.channels]).toEqual([6, 6, 3]);
    for (let n = 0; n < 2; n++)
      for (let y = 0; y < 6; y++)
        for (let x = 0; x < 6; x++)
          for (let c = 0; c < 3; c++) {
            // DepthToSpace (DCR): output channel c at sub-pixel (i, j) is feature (i·2 + j)·3 + c.
            const k = ((y % 2) * 2 + (x % 2)) * 3 + c;
            let want = 0;
            for (let ci = 0; ci < 4; ci++)
              want +=
                (weight[k * 4 + ci] ?? 0) *
                ((latents[((n * h + Math.floor(y / 2)) * h + Math.floor(x / 2)) * 4 + ci] ?? 0) / 0.18215);
            const got = d.images[((n * 6 + y) * 6 + x) * 3 + c] ?? Number.NaN;
            expect(Math.abs(got - want)).toBeLessThan(1e-4);
          }
  });

  it("diffit sample --vae-decoder writes one decoded row per class", async () => {
    const ck = join(OUT, "from-pt.safetensors");
    const png = join(OUT, "samples-decoded.png");
    const r = await run(
      "sample",
      SPEC,
      "--checkpoint",
      ck,
      "--steps",
      "3",
      "--per-class",
      "2",
      "--classes",
      "1,4,9",
      "--vae-decoder",
      decoder,
      "-o",
      png,
      "--json",
    );
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ samples: 6, decoded: true, steps: 3 });
    // 3 rows of 2 images, each 16×16 after decoding 8×8 latents, with 2-pixel padding.
    const img = PNG.sync.read(readFileSync(png));
    expect([img.width, img.height]).toEqual([2 * 18 + 2, 3 * 18 + 2]);

    const preview = await run(
      "sample",
      SPEC,
      "--checkpoint",
      ck,
      "--steps",
      "2",
      "--per-class",
      "1",
      "-o",
      join(OUT, "latents.png"),
    );
    expect(preview.code).toBe(0);
    expect(preview.err).toContain("--vae-decoder");
    const refused = await run(
      "sample",
      "specs/tiny-fmnist.json",
      "--checkpoint",
      "checkpoints/tiny-fmnist.safetensors",
      "--vae-decoder",
      decoder,
    );
    expect(refused.code).toBe(2);
  });
});
