// The U-shaped image-space DiffiT [P §3.2, Fig 4, S.H.1, S.I.1].
import { z } from "zod";
import { LIMITS } from "../../limits.ts";
import { probability, size } from "./fields.ts";
import {
  attentionSection,
  conditioningSection,
  diffusionSection,
  layerNormSection,
  samplingSection,
  timeSection,
  trainingSection,
} from "./sections.ts";

export const imageStage = z
  .strictObject({
    channels: size("width").describe("Feature maps at this resolution."),
    depth: size("stageDepth").describe("DiffiT ResBlocks at this resolution (L in the paper)."),
    windowSize: size("window").describe("Local attention window (paper: 4 for CIFAR, 8 for FFHQ)."),
    heads: size("heads").default(4).describe("Attention heads (unstated in the paper; [Om]: 4)."),
    mlpRatio: z
      .number()
      .positive()
      .max(LIMITS.mlpRatio)
      .default(4)
      .describe("MLP hidden width / channels (unstated; [Om]: 4)."),
  })
  .describe("One resolution level; each stage after the first halves the resolution.");

export const imageFamily = z
  .strictObject({
    family: z.literal("image"),
    name: z.string().min(1).describe("Name of the model (defaults to the file name)."),
    description: z.string().optional().describe("Free text."),
    input: z
      .strictObject({
        size: size("inputSize").describe("Height and width of the (square) images."),
        channels: size("inputChannels").default(3).describe("Image channels."),
      })
      .describe("Image size and channels; the network outputs the same shape."),
    tokenizer: z
      .strictObject({
        kind: z.enum(["conv3x3"]).default("conv3x3").describe("Conv3×3 as in every reimplementation (§2)."),
        channels: size("width")
          .optional()
          .describe("Output channels; defaults to the first stage's channels."),
      })
      .prefault({})
      .describe("The convolution that lifts pixels to feature maps."),
    stages: z
      .array(imageStage)
      .min(1)
      .max(LIMITS.stages)
      .describe("Encoder stages from the highest resolution down; the last is the bottleneck."),
    downsampler: z
      .enum(["conv", "avgpool"])
      .default("conv")
      .describe("Conv3×3 stride 2 (reimplementations), or 2×2 average pooling."),
    upsampler: z
      .enum(["conv-transpose", "nearest-conv", "bilinear-conv"])
      .default("conv-transpose")
      .describe("ConvTranspose k4 s2 p1, or nearest/bilinear ×2 resize followed by Conv3×3."),
    skip: z
      .enum(["add", "concat"])
      .default("add")
      .describe("How encoder features merge into the decoder (§7.4; [Fed, Ali] add, [Om] concat)."),
    decoderBottleneck: z
      .boolean()
      .default(false)
      .describe(
        "Repeat the bottleneck stage in the decoder, as [Om] does (§7.5; the paper's figure has none).",
      ),
    head: z
      .enum(["gn-silu-conv", "conv"])
      .default("gn-silu-conv")
      .describe("Output head: GroupNorm, SiLU, Conv3×3 (Fig 4, [Fed]) or Conv3×3 only ([Om])."),
    groupNormGroups: size("width").default(8).describe("GroupNorm groups (unstated; [Om]: 8)."),
    dropout: probability()
      .default(0)
      .describe("Dropout on the residual branches (EDM: 0.13 CIFAR, 0.05 FFHQ)."),
    layerNorm: layerNormSection(true).prefault({}),
    attention: attentionSection.prefault({}),
    time: timeSection({ sinusoidDim: 512, layout: "sin-cos" })
      .extend({
        tokenDim: size("width").default(512).describe("Width of the time token x_t (T3: 512)."),
      })
      .describe("Time (noise level) embedding and the time token.")
      .prefault({}),
    conditioning: conditioningSection.prefault({}),
    diffusion: diffusionSection.default({
      kind: "edm",
      sigmaData: 0.5,
      pMean: -1.2,
      pStd: 1.2,
      sigmaMin: 0.002,
      sigmaMax: 80,
      rho: 7,
      preconditioning: "edm",
    }),
    training: trainingSection({ optimizer: "adam", lr: 2e-4, batchSize: 256, emaDecay: 0.9999 }).prefault({}),
    sampling: samplingSection({
      sampler: "heun",
      steps: 18,
      scale: 1,
      schedule: "constant",
      channels: "all",
    }).prefault({}),
  })
  .describe("Image-space DiffiT: a U-shaped network of DiffiT ResBlocks.");

export type ImageSpec = z.output<typeof imageFamily>;
export type ImageStage = z.output<typeof imageStage>;
