// Small field builders so every numeric field states its range once. Sizes take their upper
// bound from LIMITS (src/limits.ts), so a tiny spec cannot ask for unbounded work.
import { z } from "zod";
import { LIMITS } from "../../limits.ts";

export const positiveInt = () => z.number().int().positive();
export const nonNegativeInt = () => z.number().int().nonnegative();
export const probability = () => z.number().min(0).lt(1);
export const positive = () => z.number().positive();

type SizeLimit =
  | "stages"
  | "stageDepth"
  | "latentDepth"
  | "width"
  | "heads"
  | "window"
  | "inputSize"
  | "inputChannels"
  | "patchSize"
  | "diffusionSteps"
  | "samplerSteps"
  | "batchSize";

/** A positive integer no larger than the named limit. */
export const size = (limit: SizeLimit) => positiveInt().max(LIMITS[limit]);
