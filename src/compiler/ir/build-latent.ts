// IR of the latent DiffiT [OFF diffit.py, P §3.2, S.H.2]: patch embedding, sin-cos positions,
// an isotropic stack of DiffiT blocks conditioned on t_emb + y_emb, and a final layer.
// Parameter names follow the official state_dict (DIFFIT.md §8), so import is a rename-free map.
import type { ResolvedLatentSpec } from "../resolve-defaults.ts";
import { diffitBlock, timeEmbedder, withLabel } from "./blocks.ts";
import { GraphBuilder } from "./builder.ts";
import type { Graph } from "./types.ts";

export function buildLatentGraph(s: ResolvedLatentSpec): Graph {
  const b = new GraphBuilder("latent", s.name);
  const { size, channels } = s.input;
  const p = s.patchSize;
  const grid = size / p;
  const C = s.hidden;
  const outChannels = s.learnSigma ? 2 * channels : channels;

  const x = b.input("x", { shape: ["N", size, size, channels], dtype: "float32" }, ["input"]);
  const tIn = b.input("t", { shape: ["N"], dtype: "float32" }, ["time"]);
  const conditional = s.conditioning.classes > 0;
  const y = conditional ? b.input("y", { shape: ["N"], dtype: "int32" }, ["conditioning"]) : undefined;

  let h = b.add(
    "conv2d",
    "x_embedder.proj",
    [x],
    {
      kernel: p,
      stride: p,
      padding: 0,
      inChannels: channels,
      outChannels: C,
      bias: true,
      init: "xavier-uniform",
    },
    ["patchSize"],
  ); // [N, grid, grid, C]
  if (s.positionEmbedding !== "none") {
    h = b.add(
      "add-position",
      "pos_embed",
      [h],
      { grid, width: C, learned: s.positionEmbedding === "learned" },
      ["positionEmbedding"],
    );
  }
  let c = timeEmbedder(b, "t_embedder", tIn, s.time, C, ["time"]);
  const rows = s.conditioning.classes + (s.conditioning.nullClass ? 1 : 0);
  c = withLabel(b, "y_embedder", c, y, rows, C, ["conditioning"]); // [N, C]

  for (let i = 0; i < s.depth; i++) {
    h = diffitBlock(
      b,
      `blocks.${i}`,
      h,
      c,
      {
        width: C,
        heads: s.heads,
        window: s.window,
        mlpRatio: s.mlpRatio,
        timeWidth: C,
        mode: s.attention.mode,
        relativePositionBias: s.attention.relativePositionBias,
        qkvBias: s.attention.qkvBias,
        layerNormAffine: s.layerNorm.affine,
        eps: s.layerNorm.eps,
        dropout: s.dropout,
      },
      ["depth"],
    );
  }
  h = b.add(
    "layer-norm",
    "final_layer.norm_final",
    [h],
    { width: C, eps: s.layerNorm.eps, affine: s.layerNorm.affine },
    ["finalActivation"],
  );
  if (s.finalActivation === "silu") h = b.add("silu", "final_layer.act", [h], {}, ["finalActivation"]);
  h = b.add(
    "linear",
    "final_layer.linear",
    [h],
    { inFeatures: C, outFeatures: p * p * outChannels, bias: true, init: "zeros" },
    ["learnSigma"],
  );
  const out = b.add("unpatchify", "unpatchify", [h], { patch: p, channels: outChannels }, ["patchSize"]);
  b.output("out", out);
  return b.finish();
}
