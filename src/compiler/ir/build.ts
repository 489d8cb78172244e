// Spec → IR for either family.
import type { ResolvedSpec } from "../resolve-defaults.ts";
import { buildImageGraph } from "./build-image.ts";
import { buildLatentGraph } from "./build-latent.ts";
import type { Graph } from "./types.ts";

export function buildGraph(spec: ResolvedSpec): Graph {
  return spec.family === "image" ? buildImageGraph(spec) : buildLatentGraph(spec);
}
