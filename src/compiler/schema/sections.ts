// Sections shared by both model families. Family-specific defaults are passed in
// by the family schemas, so each default lives next to the source that justifies it.
import { z } from "zod";
import { LIMITS } from "../../limits.ts";
import { nonNegativeInt, positive, positiveInt, probability, size } from "./fields.ts";

export const ATTENTION_MODES = ["tmsa", "time-independent", "time-in-bias", "time-in-mlp", "adaln"] as const;

export const attentionSection = z
  .strictObject({
    mode: z
      .enum(ATTENTION_MODES)
      .default("tmsa")
      .describe(
        "How the time token enters attention. tmsa: temporal q/k/v projections [P Eq 3-6]; " +
          "time-independent: none; time-in-bias: time projected into the relative-position bias (Table 6 F); " +
          "time-in-mlp: time added to the MLP input (Table 6 G); adaln: DiT adaLN-Zero modulation (Fig 7b).",
      ),
    relativePositionBias: z
      .boolean()
      .default(true)
      .describe("Swin-style 2-D relative position bias table per head [OFF] (DIFFIT.md §7.9)."),
    qkvBias: z
      .boolean()
      .default(true)
      .describe("Bias on the spatial and temporal q/k/v projections [OFF] (§7.8)."),
  })
  .describe("Time-dependent self-attention (TMSA) and its ablations.");

export function timeSection(d: { sinusoidDim: number; layout: "cos-sin" | "sin-cos" }) {
  return z
    .strictObject({
      embedding: z
        .enum(["positional", "fourier"])
        .default("positional")
        .describe("Sinusoidal (positional) or random Fourier features of the noise level (Table 8)."),
      sinusoidDim: size("width")
        .default(d.sinusoidDim)
        .describe("Width of the sinusoidal/Fourier features before the time MLP."),
      layout: z
        .enum(["cos-sin", "sin-cos"])
        .default(d.layout)
        .describe("Order of the halves of the sinusoid ([OFF] latent: cos first)."),
      maxPeriod: positive().default(10000).describe("Longest period of the sinusoid."),
      fourierScale: positive().default(16).describe("Std of the random Fourier frequencies (EDM uses 16)."),
    })
    .describe("Time (noise level) embedding.");
}

export const conditioningSection = z
  .strictObject({
    classes: nonNegativeInt()
      .max(LIMITS.classes)
      .default(0)
      .describe("Number of classes; 0 makes the model unconditional."),
    nullClass: z
      .boolean()
      .default(true)
      .describe("Reserve one extra label row as the null class for classifier-free guidance [OFF]."),
    labelDropout: probability()
      .optional()
      .describe(
        "Probability of replacing a label by the null class in training. Default 0.1 [OFF] when conditional, else 0.",
      ),
  })
  .describe("Class conditioning.");

const edmDiffusion = z
  .strictObject({
    kind: z.literal("edm"),
    sigmaData: positive().default(0.5).describe("Std of the data (EDM σ_data)."),
    pMean: z.number().default(-1.2).describe("Mean of ln σ in training."),
    pStd: positive().default(1.2).describe("Std of ln σ in training."),
    sigmaMin: positive().default(0.002).describe("Smallest noise level of the sampler."),
    sigmaMax: positive().default(80).describe("Largest noise level of the sampler."),
    rho: positive().default(7).describe("Exponent of the EDM time discretisation."),
    preconditioning: z
      .enum(["edm", "vp", "ve"])
      .default("edm")
      .describe("Preconditioning of the denoiser; the paper does not say which (§7.7): EDM by default."),
  })
  .describe("EDM (Karras et al. 2022), as the paper uses for image space.");

const ddpmDiffusion = z
  .strictObject({
    kind: z.literal("ddpm"),
    steps: size("diffusionSteps").default(1000).describe("Training timesteps."),
    betaSchedule: z.enum(["linear", "cosine"]).default("linear").describe("Noise schedule."),
    betaStart: positive().default(1e-4).describe("β at t = 0 (linear schedule)."),
    betaEnd: positive().default(0.02).describe("β at the last step (linear schedule)."),
    variance: z
      .enum(["learned-range", "fixed-small", "fixed-large"])
      .default("learned-range")
      .describe("Reverse-process variance; learned-range needs learnSigma [OFF-D]."),
    loss: z
      .enum(["hybrid", "mse"])
      .default("hybrid")
      .describe("ε-MSE plus the VB term (hybrid), or ε-MSE only."),
  })
  .describe("ADM/DDPM, as the official latent model uses.");

export const diffusionSection = z.discriminatedUnion("kind", [edmDiffusion, ddpmDiffusion]);
export type DiffusionConfig = z.output<typeof diffusionSection>;

export function trainingSection(d: {
  optimizer: "adam" | "adamw";
  lr: number;
  batchSize: number;
  emaDecay: number;
}) {
  return z
    .strictObject({
      optimizer: z.enum(["adam", "adamw"]).default(d.optimizer).describe("Optimizer."),
      lr: positive().default(d.lr).describe("Peak learning rate."),
      betas: z.tuple([probability(), probability()]).default([0.9, 0.999]).describe("Adam β1, β2."),
      weightDecay: z.number().nonnegative().default(0).describe("Decoupled weight decay (AdamW)."),
      batchSize: size("batchSize").default(d.batchSize).describe("Images per step."),
      emaDecay: probability().default(d.emaDecay).describe("EMA decay per step."),
      warmupSteps: nonNegativeInt().default(0).describe("Linear LR warm-up length in steps."),
      gradClip: positive().nullable().default(null).describe("Global gradient-norm clip; null disables it."),
      steps: positiveInt().optional().describe("Default number of training steps."),
      seed: nonNegativeInt().default(0).describe("Seed of initialisation, data order and noise."),
    })
    .describe("Training defaults (the CLI can override each).");
}

export const SAMPLERS = ["heun", "euler", "ddim", "ddpm"] as const;

export function samplingSection(d: {
  sampler: (typeof SAMPLERS)[number];
  steps: number;
  scale: number;
  schedule: "constant" | "power-cosine";
  channels: number[] | "all";
}) {
  return z
    .strictObject({
      sampler: z.enum(SAMPLERS).default(d.sampler).describe("Sampler."),
      steps: size("samplerSteps").default(d.steps).describe("Sampler steps (Heun: NFE = 2·steps − 1)."),
      guidance: z
        .strictObject({
          scale: z
            .number()
            .min(0)
            .optional()
            .describe(
              `Classifier-free guidance scale; 1 disables guidance. Default ${d.scale} when conditional, else 1.`,
            ),
          schedule: z
            .enum(["constant", "power-cosine"])
            .default(d.schedule)
            .describe("Constant scale, or the MDT power-cosine ramp [OFF-S]."),
          exponent: positive().default(4).describe("Exponent of the power-cosine schedule."),
          channels: z
            .union([
              z.literal("all"),
              z.array(z.number().int().nonnegative()).min(1).max(LIMITS.guidanceChannels),
            ])
            .default(d.channels)
            .describe("Output channels guidance applies to (latent [OFF]: the first 3 of 4)."),
        })
        .prefault({})
        .describe("Classifier-free guidance."),
    })
    .describe("Sampling defaults.");
}

export const layerNormSection = (affine: boolean) =>
  z
    .strictObject({
      affine: z.boolean().default(affine).describe("Learned scale and shift ([OFF] latent: none)."),
      eps: positive().default(1e-6).describe("Epsilon [OFF]."),
    })
    .describe("LayerNorm inside the DiffiT blocks.");
