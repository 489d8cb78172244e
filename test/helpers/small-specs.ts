// Small models in every attention mode, for tests that run whole networks on several engines.
import type { AttentionMode } from "../../src/compiler/ir/types.ts";

export const ATTENTION_MODES: AttentionMode[] = [
  "tmsa",
  "time-independent",
  "time-in-bias",
  "time-in-mlp",
  "adaln",
];

export const smallLatent = (mode: AttentionMode) => ({
  family: "latent",
  name: `latent-${mode}`,
  input: { size: 8, channels: 4 },
  patchSize: 2,
  hidden: 64,
  depth: 2,
  heads: 4,
  attention: { mode },
  conditioning: { classes: 10 },
});

/** A two-stage image model small enough for the cpu backend, with Fourier time features. */
export const smallImage = (mode: AttentionMode, attention: Record<string, unknown> = {}) => ({
  family: "image",
  name: `image-${mode}`,
  input: { size: 8, channels: 1 },
  stages: [
    { channels: 8, depth: 1, windowSize: 2, heads: 2, mlpRatio: 2 },
    { channels: 16, depth: 1, windowSize: 2, heads: 2, mlpRatio: 2 },
  ],
  groupNormGroups: 4,
  attention: { mode, ...attention },
  time: { embedding: "fourier", sinusoidDim: 8, tokenDim: 16 },
  conditioning: { classes: 10 },
});
