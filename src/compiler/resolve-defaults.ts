// Defaults that depend on other fields (k-diffusion style "derived defaults"). zod fills
// every independent default; this step fills the rest, so the resolved spec that every
// later stage reads has no optional architecture field left.
import type { ImageSpec } from "./schema/image.ts";
import type { LatentSpec } from "./schema/latent.ts";
import type { ParsedSpec } from "./schema/spec.ts";

type Filled<T, K extends keyof T> = Omit<T, K> & { [P in K]-?: Exclude<T[P], undefined> };

type ResolvedConditioning = Filled<ImageSpec["conditioning"], "labelDropout">;
type ResolvedGuidance = Filled<ImageSpec["sampling"]["guidance"], "scale">;
type ResolvedSampling = Omit<ImageSpec["sampling"], "guidance"> & { guidance: ResolvedGuidance };

export type ResolvedImageSpec = Omit<ImageSpec, "tokenizer" | "conditioning" | "sampling"> & {
  tokenizer: Filled<ImageSpec["tokenizer"], "channels">;
  conditioning: ResolvedConditioning;
  sampling: ResolvedSampling;
};

export type ResolvedLatentSpec = Filled<Omit<LatentSpec, "conditioning" | "sampling">, "window"> & {
  conditioning: ResolvedConditioning;
  sampling: ResolvedSampling;
};

export type ResolvedSpec = ResolvedImageSpec | ResolvedLatentSpec;

/** Default guidance scale of a conditional model per family (image: none; latent: 4.4 [OFF-S]). */
const CONDITIONAL_GUIDANCE = { image: 1, latent: 4.4 } as const;
/** Label dropout of the official code [OFF]. */
const LABEL_DROPOUT = 0.1;

function shared(spec: ParsedSpec): { conditioning: ResolvedConditioning; sampling: ResolvedSampling } {
  const conditional = spec.conditioning.classes > 0;
  return {
    conditioning: {
      ...spec.conditioning,
      labelDropout: spec.conditioning.labelDropout ?? (conditional ? LABEL_DROPOUT : 0),
    },
    sampling: {
      ...spec.sampling,
      guidance: {
        ...spec.sampling.guidance,
        scale: spec.sampling.guidance.scale ?? (conditional ? CONDITIONAL_GUIDANCE[spec.family] : 1),
      },
    },
  };
}

export function resolveDefaults(spec: ParsedSpec): ResolvedSpec {
  if (spec.family === "image") {
    const first = spec.stages[0]?.channels ?? 1;
    return {
      ...spec,
      ...shared(spec),
      tokenizer: { ...spec.tokenizer, channels: spec.tokenizer.channels ?? first },
    };
  }
  return { ...spec, ...shared(spec), window: spec.window ?? Math.floor(spec.input.size / spec.patchSize) };
}
