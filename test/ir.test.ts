// The IR of every spec verifies, has the right input/output signature, names its latent
// parameters exactly as the official state_dict does, and carries the reference init rules.
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildGraph } from "../src/compiler/ir/build.ts";
import type { Graph } from "../src/compiler/ir/types.ts";
import { verifyGraph } from "../src/compiler/ir/verify.ts";
import { runFrontEnd } from "../src/compiler/pipeline.ts";
import { specOf } from "./helpers/entry.ts";

const specFiles = readdirSync("specs")
  .filter((f) => f.endsWith(".json") || f.endsWith(".ts"))
  .map((f) => `specs/${f}`);

function graphOf(value: unknown): Graph {
  return buildGraph(specOf(value));
}

const outType = (g: Graph) => g.nodes[g.outputs.out ?? -1]?.out;

describe("IR of every spec in specs/", () => {
  for (const file of specFiles) {
    it(`${file} builds and verifies`, () => {
      const r = runFrontEnd(file);
      expect(r.ok).toBe(true);
      for (const e of r.entries) {
        const g = buildGraph(e.spec);
        expect(verifyGraph(g)).toEqual([]);
        const x = g.nodes[g.inputs.x ?? -1]?.out;
        const out = outType(g);
        // Image models predict an image of the input's shape; latent models add v channels with learnSigma.
        const factor = e.spec.family === "latent" && e.spec.learnSigma ? 2 : 1;
        expect(out?.shape.slice(0, 3)).toEqual(x?.shape.slice(0, 3));
        expect(out?.shape[3]).toBe(Number(x?.shape[3]) * factor);
        expect(g.inputs.y !== undefined).toBe(e.spec.conditioning.classes > 0);
      }
    });
  }
});

const smallLatent = {
  family: "latent",
  name: "small",
  input: { size: 8, channels: 4 },
  patchSize: 2,
  hidden: 64,
  depth: 2,
  heads: 4,
  conditioning: { classes: 10 },
};

describe("latent IR", () => {
  const g = graphOf(smallLatent);

  it("names parameters as the official state_dict (DIFFIT.md §8), buffers excluded", () => {
    const perBlock = (i: number) =>
      [
        "attn.qkv.weight",
        "attn.qkv.bias",
        "attn.qkv_temb.weight",
        "attn.qkv_temb.bias",
        "attn.relative_position_bias_table",
        "attn.proj.weight",
        "attn.proj.bias",
        "mlp.fc1.weight",
        "mlp.fc1.bias",
        "mlp.fc2.weight",
        "mlp.fc2.bias",
      ].map((k) => `blocks.${i}.${k}`);
    const official = [
      "x_embedder.proj.weight",
      "x_embedder.proj.bias",
      "pos_embed",
      "t_embedder.mlp.0.weight",
      "t_embedder.mlp.0.bias",
      "t_embedder.mlp.2.weight",
      "t_embedder.mlp.2.bias",
      "y_embedder.embedding_table.weight",
      ...perBlock(0),
      ...perBlock(1),
      "final_layer.linear.weight",
      "final_layer.linear.bias",
    ];
    expect(g.params.map((p) => p.name).sort()).toEqual(official.sort());
  });

  it("has official shapes in the IR's layouts (linear [in, out], conv [kh, kw, in, out])", () => {
    const shape = (n: string) => g.params.find((p) => p.name === n)?.shape;
    expect(shape("x_embedder.proj.weight")).toEqual([2, 2, 4, 64]);
    expect(shape("pos_embed")).toEqual([16, 64]);
    expect(shape("y_embedder.embedding_table.weight")).toEqual([11, 64]);
    expect(shape("blocks.0.attn.relative_position_bias_table")).toEqual([49, 4]);
    expect(shape("final_layer.linear.weight")).toEqual([64, 2 * 2 * 8]);
  });

  it("uses the reference init rules", () => {
    const init = (n: string) => g.params.find((p) => p.name === n)?.init.kind;
    expect(init("blocks.0.attn.qkv.weight")).toBe("xavier-uniform");
    expect(init("blocks.0.attn.qkv.bias")).toBe("zeros");
    expect(init("blocks.0.attn.relative_position_bias_table")).toBe("trunc-normal");
    expect(init("y_embedder.embedding_table.weight")).toBe("normal");
    expect(init("t_embedder.mlp.0.weight")).toBe("normal");
    expect(init("final_layer.linear.weight")).toBe("zeros");
    expect(init("pos_embed")).toBe("sincos-2d");
    expect(g.params.find((p) => p.name === "pos_embed")?.trainable).toBe(false);
  });

  it("defaults the window to the whole token grid (global attention)", () => {
    const attn = g.nodes.find((n) => n.op === "window-attention");
    expect(attn?.op === "window-attention" && attn.attrs.window).toBe(4);
  });
});

describe("attention modes", () => {
  const base = { ...smallLatent, attention: { mode: "tmsa" } };
  const names = (mode: string) => graphOf({ ...base, attention: { mode } }).params.map((p) => p.name);

  it("tmsa has a temporal qkv projection; time-independent has none", () => {
    expect(names("tmsa")).toContain("blocks.0.attn.qkv_temb.weight");
    expect(names("time-independent")).not.toContain("blocks.0.attn.qkv_temb.weight");
  });
  it("time-in-bias projects time into the bias table; time-in-mlp into the MLP input", () => {
    expect(names("time-in-bias")).toContain("blocks.0.attn.temb_bias.weight");
    expect(names("time-in-mlp")).toContain("blocks.0.time_mlp.weight");
  });
  it("adaln adds zero-initialised modulation and no temporal attention", () => {
    const g = graphOf({ ...base, attention: { mode: "adaln" } });
    const mod = g.params.find((p) => p.name === "blocks.0.adaLN_modulation.1.weight");
    expect(mod?.shape).toEqual([64, 6 * 64]);
    expect(mod?.init.kind).toBe("zeros");
    expect(g.params.some((p) => p.name.includes("qkv_temb"))).toBe(false);
  });
  it("drops the bias table and qkv biases when disabled", () => {
    const g = graphOf({ ...base, attention: { relativePositionBias: false, qkvBias: false } });
    expect(
      g.params.some((p) => p.name.endsWith("relative_position_bias_table") || p.name.endsWith("qkv.bias")),
    ).toBe(false);
  });
});

describe("image IR", () => {
  const tiny = {
    family: "image",
    name: "t",
    input: { size: 16, channels: 1 },
    stages: [
      { channels: 8, depth: 1, windowSize: 4, heads: 2 },
      { channels: 16, depth: 2, windowSize: 4, heads: 2 },
    ],
    groupNormGroups: 4,
    time: { sinusoidDim: 8, tokenDim: 16 },
  };

  it("concat skips feed the concatenated width into the first decoder ResBlock", () => {
    const g = graphOf({ ...tiny, skip: "concat" });
    const merge = g.nodes.find((n) => n.name === "decoder.0.skip");
    expect(merge?.out.shape).toEqual(["N", 16, 16, 16 + 8]);
    expect(g.params.find((p) => p.name === "decoder.0.blocks.0.skip_proj.weight")?.shape).toEqual([
      1, 1, 24, 8,
    ]);
  });

  it("add skips make the upsampler produce the skip's width", () => {
    const g = graphOf(tiny);
    expect(g.nodes.find((n) => n.name === "decoder.0.up")?.out.shape).toEqual(["N", 16, 16, 8]);
  });

  it("every upsampler and downsampler kind keeps the U-Net's shapes", () => {
    for (const upsampler of ["conv-transpose", "nearest-conv", "bilinear-conv"]) {
      for (const downsampler of ["conv", "avgpool"]) {
        const g = graphOf({ ...tiny, upsampler, downsampler, decoderBottleneck: true, head: "conv" });
        expect(verifyGraph(g)).toEqual([]);
        expect(outType(g)?.shape).toEqual(["N", 16, 16, 1]);
      }
    }
  });

  it("zero-initialises the output convolution", () => {
    expect(graphOf(tiny).params.find((p) => p.name === "head.conv.weight")?.init.kind).toBe("zeros");
  });
});
