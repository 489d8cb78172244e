// Weights round-trip through safetensors with the spec in the metadata; a checkpoint for other
// shapes is refused with every mismatch listed, never partially loaded; corrupt files are refused.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildGraph } from "../src/compiler/ir/build.ts";
import { specHash, validateInstance } from "../src/compiler/pipeline.ts";
import {
  CheckpointMismatchError,
  checkpointMetadata,
  loadWeights,
  saveWeights,
} from "../src/runtime/checkpoint/model-checkpoint.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  float32Tensor,
  SafetensorsError,
  toFloat32,
} from "../src/runtime/checkpoint/safetensors.ts";
import { initialValues } from "../src/runtime/init.ts";

const spec = (over: Record<string, unknown> = {}) => {
  const r = validateInstance({
    family: "latent",
    name: "ck",
    input: { size: 8, channels: 4 },
    patchSize: 2,
    hidden: 32,
    depth: 2,
    heads: 4,
    ...over,
  });
  if (!r.spec) throw new Error(JSON.stringify(r.diagnostics));
  return r.spec;
};

const dir = mkdtempSync(join(tmpdir(), "diffit-ck-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function weightsOf(graph: ReturnType<typeof buildGraph>, seed: number) {
  return new Map(graph.params.map((p) => [p.name, initialValues(p, seed)]));
}

describe("model checkpoints", () => {
  const s = spec();
  const g = buildGraph(s);
  const meta = checkpointMetadata({ name: s.name, hash: specHash(s), spec: s });

  it("round-trips every parameter bit for bit, with the spec and its hash", () => {
    const path = join(dir, "a.safetensors");
    const w = weightsOf(g, 3);
    saveWeights(path, w, g, meta);
    const { weights, metadata } = loadWeights(path, g);
    for (const [name, values] of w) expect(weights.get(name)).toEqual(values);
    expect(metadata.specHash).toBe(specHash(s));
    expect(JSON.parse(metadata.spec ?? "{}").hidden).toBe(32);
  });

  it("refuses a checkpoint of another shape, listing every mismatch", () => {
    const path = join(dir, "b.safetensors");
    saveWeights(path, weightsOf(g, 1), g, meta);
    const other = buildGraph(spec({ hidden: 64, depth: 3 }));
    let err: unknown;
    try {
      loadWeights(path, other);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CheckpointMismatchError);
    const problems = (err as CheckpointMismatchError).problems;
    expect(problems).toContain("missing blocks.2.attn.qkv.weight [64, 192]");
    expect(
      problems.some((p) => p.startsWith("blocks.0.attn.qkv.weight: shape [32, 96], spec needs [64, 192]")),
    ).toBe(true);
    expect((err as Error).message).toContain(`${problems.length} problem(s)`);
    expect((err as Error).message).not.toContain("written for");
  });

  it("names the spec a mismatched checkpoint was written for", () => {
    const path = join(dir, "d.safetensors");
    saveWeights(path, weightsOf(g, 1), g, { ...meta, name: "some-other-model" });
    const other = buildGraph(spec({ hidden: 64 }));
    expect(() => loadWeights(path, other)).toThrow(`written for spec some-other-model, not ${other.name}`);
  });

  it("lists unexpected tensors", () => {
    const path = join(dir, "c.safetensors");
    const bigger = buildGraph(spec({ depth: 3 }));
    saveWeights(path, weightsOf(bigger, 1), bigger, meta);
    expect(() => loadWeights(path, g)).toThrow(/unexpected blocks\.2\.mlp\.fc1\.weight/);
  });
});

describe("safetensors", () => {
  const file = {
    tensors: new Map([["a", float32Tensor(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3])]]),
    metadata: { k: "v" },
  };

  it("aligns the data to 8 bytes and decodes what it encodes", () => {
    const buf = encodeSafetensors(file);
    const headerLength = Number(buf.readBigUInt64LE(0));
    expect((8 + headerLength) % 8).toBe(0);
    const back = decodeSafetensors(buf);
    expect(back.metadata).toEqual({ k: "v" });
    const a = back.tensors.get("a");
    if (!a) throw new Error("tensor a is missing");
    expect([...toFloat32(a)]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it.each([
    ["truncated", (b: Buffer) => b.subarray(0, b.length - 4), /do not fit/],
    [
      "header length beyond the file",
      (b: Buffer) => {
        b.writeBigUInt64LE(1n << 40n, 0);
        return b;
      },
      /exceeds the file/,
    ],
    [
      "not JSON",
      (b: Buffer) => {
        b.write("{{{{", 8);
        return b;
      },
      /not JSON/,
    ],
    ["too short", () => Buffer.alloc(3), /too short/],
  ])("refuses a %s file", (_name, corrupt, message) => {
    expect(() => decodeSafetensors(corrupt(Buffer.from(encodeSafetensors(file))))).toThrow(SafetensorsError);
    expect(() => decodeSafetensors(corrupt(Buffer.from(encodeSafetensors(file))))).toThrow(message);
  });

  it.each([
    [
      "a spec (JSON text)",
      Buffer.from('{\n  "family": "image",\n  "name": "tiny"\n}\n'),
      /not a safetensors file.*JSON text/,
    ],
    [
      "a torch.save zip",
      Buffer.concat([Buffer.from("PK\x03\x04"), Buffer.alloc(60, 7)]),
      /zip archive.*diffit import/,
    ],
  ])("names the likely format when given %s", (_name, bytes, message) => {
    expect(() => decodeSafetensors(bytes, "x")).toThrow(message);
  });

  it("a failed save leaves the previous file intact", () => {
    const path = join(dir, "atomic.safetensors");
    writeFileSync(path, "previous");
    const g = buildGraph(spec());
    const w = weightsOf(g, 0);
    w.delete("pos_embed");
    expect(() => saveWeights(path, w, g, {})).toThrow(/no weights for pos_embed/);
    expect(readFileSync(path, "utf8")).toBe("previous");
  });
});

describe("float16 and bfloat16 weights", () => {
  it("widen exactly to float32, with one note per file", () => {
    const values = Float32Array.from([0, 1, -2, 0.5, 65504, 2 ** -24]);
    // float16 bits of those values, and bfloat16 as the top halves of the float32 bits.
    const half = Uint16Array.from([0x0000, 0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001]);
    const bf = Uint16Array.from(new Uint32Array(values.buffer), (b) => b >>> 16);
    const f16 = { dtype: "F16" as const, shape: [6], bytes: new Uint8Array(half.buffer) };
    const b16 = { dtype: "BF16" as const, shape: [6], bytes: new Uint8Array(bf.buffer) };
    expect([...toFloat32(f16)]).toEqual([...values]);
    // bfloat16 keeps 8 mantissa bits: these values need no more.
    expect([...toFloat32(b16)]).toEqual([...values].map((v) => (v === 65504 ? 65280 : v)));
  });

  it("are loaded as the spec's weights, and the widening said once", () => {
    const g = buildGraph(spec());
    const w = weightsOf(g, 2);
    const tensors = new Map(
      g.params.map((p) => {
        const v = w.get(p.name) ?? new Float32Array();
        const bits = Uint16Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length), (b) => b >>> 16);
        return [p.name, { dtype: "BF16" as const, shape: [...p.shape], bytes: new Uint8Array(bits.buffer) }];
      }),
    );
    const path = join(dir, "bf16.safetensors");
    writeFileSync(path, encodeSafetensors({ tensors, metadata: {} }));
    const notes: string[] = [];
    const { weights } = loadWeights(path, g, (line) => notes.push(line));
    expect(notes).toEqual([
      `note: ${path} stores ${g.params.length} BF16 tensor(s); widened to float32 (exactly)`,
    ]);
    for (const p of g.params) {
      const got = weights.get(p.name) ?? new Float32Array();
      const want = w.get(p.name) ?? new Float32Array();
      // Truncating to bfloat16 changes each value by less than 2^-7 of it.
      for (let i = 0; i < got.length; i++)
        expect(Math.abs((got[i] ?? 0) - (want[i] ?? 0))).toBeLessThanOrEqual(
          Math.abs(want[i] ?? 0) * 2 ** -7,
        );
    }
  });
});
