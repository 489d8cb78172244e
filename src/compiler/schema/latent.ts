// The latent DiffiT transformer [P §3.2, S.H.2, OFF diffit.py].
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

export const latentFamily = z
  .strictObject({
    family: z.literal("latent"),
    name: z.string().min(1).describe("Name of the model (defaults to the file name)."),
    description: z.string().optional().describe("Free text."),
    input: z
      .strictObject({
        size: size("inputSize")
          .default(32)
          .describe("Latent height and width (256² images with an f8 VAE: 32)."),
        channels: size("inputChannels").default(4).describe("Latent channels (SD VAE: 4)."),
      })
      .prefault({})
      .describe("Latent size and channels."),
    patchSize: size("patchSize").default(2).describe("Patch size of the patch-embedding convolution."),
    hidden: size("width").default(1152).describe("Token width."),
    depth: size("latentDepth")
      .default(28)
      .describe("Transformer blocks ([OFF] 28; the paper text says 30, §7.1)."),
    heads: size("heads").default(16).describe("Attention heads."),
    mlpRatio: z
      .number()
      .positive()
      .max(LIMITS.mlpRatio)
      .default(4)
      .describe("MLP hidden width / hidden size."),
    window: size("window")
      .optional()
      .describe("Attention window in tokens; defaults to the whole token grid (global attention, [OFF])."),
    learnSigma: z
      .boolean()
      .default(true)
      .describe("Also predict the variance interpolation v: the output has twice the input channels."),
    positionEmbedding: z
      .enum(["sincos-2d", "learned", "none"])
      .default("sincos-2d")
      .describe("Fixed 2-D sin-cos table (DiT, [OFF]), a learned table, or none."),
    finalActivation: z
      .enum(["silu", "none"])
      .default("silu")
      .describe("Activation between the final LayerNorm and Linear ([OFF]: SiLU; the paper: none)."),
    dropout: probability().default(0).describe("Dropout on the residual branches."),
    layerNorm: layerNormSection(false).prefault({}),
    attention: attentionSection.prefault({}),
    time: timeSection({ sinusoidDim: 256, layout: "cos-sin" }).prefault({}),
    conditioning: conditioningSection.prefault({}),
    diffusion: diffusionSection.default({
      kind: "ddpm",
      steps: 1000,
      betaSchedule: "linear",
      betaStart: 1e-4,
      betaEnd: 0.02,
      variance: "learned-range",
      loss: "hybrid",
    }),
    training: trainingSection({ optimizer: "adamw", lr: 3e-4, batchSize: 256, emaDecay: 0.9999 }).prefault(
      {},
    ),
    sampling: samplingSection({
      sampler: "ddpm",
      steps: 250,
      scale: 4.4,
      schedule: "power-cosine",
      channels: [0, 1, 2],
    }).prefault({}),
  })
  .describe("Latent DiffiT: an isotropic stack of DiffiT blocks over VAE latents.");

export type LatentSpec = z.output<typeof latentFamily>;
