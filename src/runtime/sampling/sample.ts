// One entry point for sampling any spec: EDM specs run Heun/Euler, DDPM specs run ancestral DDPM
// or DDIM on a respaced schedule; both with classifier-free guidance as the spec sets it.
import type { ResolvedSpec } from "../../compiler/resolve-defaults.ts";
import { UsageError } from "../../errors.ts";
import type { Network } from "../diffusion/edm.ts";
import { sampleDdpm } from "./ddpm-sampler.ts";
import { type SampleResult, sampleEdm } from "./edm-sampler.ts";
import type { GuidanceConfig } from "./guidance.ts";

export interface SampleRequest {
  count: number;
  labels?: number[];
  steps: number;
  sampler: string;
  seed: number;
  guidance: GuidanceConfig;
  /** Called after each sampler step (progress). */
  onStep?: (step: number, total: number) => void;
}

export function sampleImages(spec: ResolvedSpec, net: Network, r: SampleRequest): SampleResult {
  const { size, channels } = spec.input;
  const shape: [number, number, number, number] = [r.count, size, size, channels];
  const cond = {
    ...(r.labels ? { labels: r.labels, nullLabel: spec.conditioning.classes } : {}),
    ...(r.onStep ? { onStep: r.onStep } : {}),
  };
  if (spec.diffusion.kind === "edm") {
    if (r.sampler !== "heun" && r.sampler !== "euler")
      throw new UsageError(`EDM specs sample with heun or euler, not ${r.sampler}`);
    return sampleEdm(spec.diffusion, net, shape, {
      sampler: r.sampler,
      steps: r.steps,
      seed: r.seed,
      guidance: r.guidance,
      ...cond,
    });
  }
  if (r.sampler !== "ddpm" && r.sampler !== "ddim")
    throw new UsageError(`DDPM specs sample with ddpm or ddim, not ${r.sampler}`);
  return sampleDdpm(spec.diffusion, net, shape, {
    sampler: r.sampler,
    steps: r.steps,
    seed: r.seed,
    guidance: r.guidance,
    ...cond,
  });
}
