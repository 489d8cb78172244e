// The picture of a training grid, a step after sampling: the samples laid out as they are, or,
// for a latent spec trained with --vae-decoder, first decoded to images by the VAE's decoder on
// onnxruntime, in batches.
import { imageGrid, type Rgba } from "../images/png.ts";
import { decodeLatents } from "../onnx/vae-decoder.ts";

/** A grid's samples, channels-last [count, size, size, channels], and its columns. */
export interface GridSamples {
  values: Float32Array;
  count: number;
  columns: number;
}

/** A VAE decoder for latent grids, and the scale the latents were multiplied by. */
export interface GridDecoder {
  path: string;
  scale: number;
}

/**
 * Latents decoded per run: as many as make about four 256² images (an f=8 SD-VAE decode of one
 * 256² image holds hundreds of MB of activations), at least one.
 */
const decodeBatch = (latentSize: number) => Math.max(1, Math.floor((4 * (256 / 8) ** 2) / latentSize ** 2));

export async function gridPicture(
  s: GridSamples,
  input: { size: number; channels: number },
  decoder?: GridDecoder,
): Promise<Rgba> {
  const { size, channels } = input;
  if (!decoder) return imageGrid(s.values, s.count, size, size, channels, s.columns);
  const d = await decodeLatents(
    decoder.path,
    s.values,
    s.count,
    size,
    size,
    channels,
    decoder.scale,
    decodeBatch(size),
  );
  return imageGrid(d.images, s.count, d.height, d.width, d.channels, s.columns);
}
