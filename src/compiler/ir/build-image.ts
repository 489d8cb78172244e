// IR of the U-shaped image-space DiffiT [P §3.2, Fig 4, T S.2/S.3]:
//   Tok → (L_i × ResBlock → Down) per stage → bottleneck → (Up → merge skip → L_i × ResBlock) → Head.
// Choices the paper leaves open (DIFFIT.md §7.2-7.5) come from the spec: skip merge, up/down
// samplers, head, bottleneck duplication. Channels change in the first ResBlock of a stage,
// whose residual then needs a 1×1 projection.
import type { SpecPath } from "../diagnostics.ts";
import type { ResolvedImageSpec } from "../resolve-defaults.ts";
import { type BlockConfig, diffitBlock, timeEmbedder, withLabel } from "./blocks.ts";
import { GraphBuilder, type Value } from "./builder.ts";
import type { Graph } from "./types.ts";

/** DiffiT ResBlock: x̂ = Conv3×3(Swish(GN(x)));  x = DiffiT-Block(x̂, x_t) + x   [P Eq 9-10]. */
function resBlock(
  b: GraphBuilder,
  s: ResolvedImageSpec,
  name: string,
  x: Value,
  t: Value,
  cin: number,
  stage: number,
  at: SpecPath,
): Value {
  const st = s.stages[stage];
  if (!st) throw new Error(`no stage ${stage}`);
  const c = st.channels;
  let h = b.add(
    "group-norm",
    `${name}.norm`,
    [x],
    { groups: s.groupNormGroups, channels: cin, eps: 1e-6 },
    at,
  );
  h = b.add("silu", `${name}.act`, [h], {}, at);
  h = b.add(
    "conv2d",
    `${name}.conv`,
    [h],
    { kernel: 3, stride: 1, padding: 1, inChannels: cin, outChannels: c, bias: true, init: "xavier-uniform" },
    at,
  );
  const cfg: BlockConfig = {
    width: c,
    heads: st.heads,
    window: st.windowSize,
    mlpRatio: st.mlpRatio,
    timeWidth: s.time.tokenDim,
    mode: s.attention.mode,
    relativePositionBias: s.attention.relativePositionBias,
    qkvBias: s.attention.qkvBias,
    layerNormAffine: s.layerNorm.affine,
    eps: s.layerNorm.eps,
    dropout: s.dropout,
  };
  const y = diffitBlock(b, `${name}.block`, h, t, cfg, at);
  const skip =
    cin === c
      ? x
      : b.add(
          "conv2d",
          `${name}.skip_proj`,
          [x],
          {
            kernel: 1,
            stride: 1,
            padding: 0,
            inChannels: cin,
            outChannels: c,
            bias: true,
            init: "xavier-uniform",
          },
          at,
        );
  return b.add("add", `${name}.out`, [y, skip], {}, at);
}

function downsample(
  b: GraphBuilder,
  s: ResolvedImageSpec,
  name: string,
  x: Value,
  c: number,
  at: SpecPath,
): Value {
  if (s.downsampler === "avgpool") return b.add("avg-pool", name, [x], { size: 2 }, at);
  return b.add(
    "conv2d",
    name,
    [x],
    { kernel: 3, stride: 2, padding: 1, inChannels: c, outChannels: c, bias: true, init: "xavier-uniform" },
    at,
  );
}

function upsample(
  b: GraphBuilder,
  s: ResolvedImageSpec,
  name: string,
  x: Value,
  cin: number,
  cout: number,
  at: SpecPath,
): Value {
  if (s.upsampler === "conv-transpose") {
    return b.add(
      "conv-transpose2d",
      name,
      [x],
      {
        kernel: 4,
        stride: 2,
        padding: 1,
        outputPadding: 0,
        inChannels: cin,
        outChannels: cout,
        init: "xavier-uniform",
      },
      at,
    );
  }
  const mode = s.upsampler === "nearest-conv" ? "nearest" : "bilinear";
  const r = b.add("resize", `${name}.resize`, [x], { mode, scale: 2 }, at);
  return b.add(
    "conv2d",
    `${name}.conv`,
    [r],
    {
      kernel: 3,
      stride: 1,
      padding: 1,
      inChannels: cin,
      outChannels: cout,
      bias: true,
      init: "xavier-uniform",
    },
    at,
  );
}

export function buildImageGraph(s: ResolvedImageSpec): Graph {
  const b = new GraphBuilder("image", s.name);
  const { size, channels } = s.input;
  const x = b.input("x", { shape: ["N", size, size, channels], dtype: "float32" }, ["input"]);
  const tIn = b.input("t", { shape: ["N"], dtype: "float32" }, ["time"]);
  const conditional = s.conditioning.classes > 0;
  const y = conditional ? b.input("y", { shape: ["N"], dtype: "int32" }, ["conditioning"]) : undefined;

  const T = s.time.tokenDim;
  let t = timeEmbedder(b, "time_embed", tIn, s.time, T, ["time"]);
  const rows = s.conditioning.classes + (s.conditioning.nullClass ? 1 : 0);
  t = withLabel(b, "label_embed", t, y, rows, T, ["conditioning"]);

  let h = b.add(
    "conv2d",
    "tokenizer",
    [x],
    {
      kernel: 3,
      stride: 1,
      padding: 1,
      inChannels: channels,
      outChannels: s.tokenizer.channels,
      bias: true,
      init: "xavier-uniform",
    },
    ["tokenizer"],
  );
  let c = s.tokenizer.channels;
  const skips: { value: Value; channels: number }[] = [];
  const last = s.stages.length - 1;
  s.stages.forEach((st, i) => {
    const at: SpecPath = ["stages", i];
    for (let j = 0; j < st.depth; j++) {
      h = resBlock(b, s, `encoder.${i}.blocks.${j}`, h, t, c, i, at);
      c = st.channels;
    }
    skips.push({ value: h, channels: c });
    if (i < last) h = downsample(b, s, `encoder.${i}.down`, h, c, ["downsampler"]);
  });
  if (s.decoderBottleneck) {
    const st = s.stages[last];
    for (let j = 0; st && j < st.depth; j++)
      h = resBlock(b, s, `decoder.${last}.blocks.${j}`, h, t, c, last, ["decoderBottleneck"]);
  }
  for (let i = last - 1; i >= 0; i--) {
    const st = s.stages[i];
    const skip = skips[i];
    if (!st || !skip) continue;
    const at: SpecPath = ["stages", i];
    // With add, the upsampler also matches the skip's channels; with concat, the first ResBlock does.
    const upOut = s.skip === "add" ? skip.channels : c;
    h = upsample(b, s, `decoder.${i}.up`, h, c, upOut, ["upsampler"]);
    if (s.skip === "add") {
      h = b.add("add", `decoder.${i}.skip`, [h, skip.value], {}, ["skip"]);
      c = upOut;
    } else {
      h = b.add("concat", `decoder.${i}.skip`, [h, skip.value], { axis: -1 }, ["skip"]);
      c = upOut + skip.channels;
    }
    for (let j = 0; j < st.depth; j++) {
      h = resBlock(b, s, `decoder.${i}.blocks.${j}`, h, t, c, i, at);
      c = st.channels;
    }
  }
  if (s.head === "gn-silu-conv") {
    h = b.add("group-norm", "head.norm", [h], { groups: s.groupNormGroups, channels: c, eps: 1e-6 }, [
      "head",
    ]);
    h = b.add("silu", "head.act", [h], {}, ["head"]);
  }
  // Zero-initialised output layer, so training starts from D(x) = c_skip·x.
  const out = b.add(
    "conv2d",
    "head.conv",
    [h],
    { kernel: 3, stride: 1, padding: 1, inChannels: c, outChannels: channels, bias: true, init: "zeros" },
    ["head"],
  );
  b.output("out", out);
  return b.finish();
}
