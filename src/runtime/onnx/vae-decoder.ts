// Latents → images with a user-supplied VAE decoder in ONNX (e.g. the SD VAE's decoder exported
// by optimum or diffusers: input [N, 4, h, w] latents, output [N, 3, 8h, 8w] in [−1, 1]). The
// latent DiffiT samples latents scaled by 0.18215 (OFF-S), so they are divided by it first.
// diffit ships no VAE: without a decoder file, latents are all it can produce.
import { InputError } from "../../errors.ts";
import { nchwToNhwc, nhwcToNchw } from "./layout.ts";
import { checkSignature, DataType, readOnnxFile } from "./model-file.ts";
import { openSession, ort } from "./session.ts";

/** The SD VAE's latent scale factor (sample.py of [OFF-S]: latents / 0.18215 before decode). */
export const SD_LATENT_SCALE = 0.18215;

export interface DecodedImages {
  /** [N, H, W, C] channels-last, values as the decoder returns them (≈ [−1, 1]). */
  images: Float32Array;
  height: number;
  width: number;
  channels: number;
}

/**
 * Checks a VAE decoder file before any sampling: an ONNX model with one float input that takes
 * [N, c, h, w] latents and one float [N, C, H, W] output of 1 or 3 channels.
 */
export function checkVaeDecoder(path: string, c: number, h: number, w: number): { batch?: number } {
  const file = readOnnxFile(path, "VAE decoder");
  const fix = `give the decoder of the VAE the spec's latents come from (e.g. the SD VAE's, exported to ONNX: [N, ${c}, h, w] latents → [N, 3, 8h, 8w] images)`;
  checkSignature(
    file,
    [{ elemType: DataType.FLOAT, dims: ["N", c, h, w] }],
    [{ elemType: DataType.FLOAT, dims: ["N", "N", "N", "N"] }],
    `a VAE decoder of [N, ${c}, ${h}, ${w}] latents`,
    fix,
  );
  const channels = file.outputs[0]?.dims?.[1];
  if (typeof channels === "number" && channels !== 1 && channels !== 3)
    throw new InputError(`${path}: the decoder returns ${channels} channels; images need 1 or 3; ${fix}`);
  const batch = file.inputs[0]?.dims?.[0];
  return typeof batch === "number" ? { batch } : {};
}

/**
 * Decodes `count` channels-last latents [N, h, w, c], `batch` samples a run (default one: a 256²
 * decode holds hundreds of MB of activations; one at a time keeps the peak to one image). A
 * decoder of a fixed batch size runs on batches of that size, the last one padded.
 */
export async function decodeLatents(
  path: string,
  latents: Float32Array,
  count: number,
  h: number,
  w: number,
  c: number,
  scale = SD_LATENT_SCALE,
  batch = 1,
): Promise<DecodedImages> {
  const fixed = checkVaeDecoder(path, c, h, w).batch;
  const session = await openSession(path, "VAE decoder");
  try {
    const [input] = session.inputNames;
    const [output] = session.outputNames;
    if (!input || !output) throw new InputError(`${path}: a VAE decoder needs one input and one output`);
    const per = h * w * c;
    const rows = fixed ?? batch;
    const parts: Float32Array[] = [];
    let dims: readonly number[] = [];
    for (let i = 0; i < count; i += rows) {
      const n = Math.min(rows, count - i);
      const z = new Float32Array(rows * per);
      for (let k = 0; k < n * per; k++) z[k] = (latents[i * per + k] ?? 0) / scale;
      const feeds = { [input]: new ort.Tensor("float32", nhwcToNchw(z, rows, h, w, c), [rows, c, h, w]) };
      let result: ort.Tensor | undefined;
      try {
        result = (await session.run(feeds))[output];
      } catch (e) {
        throw new InputError(
          `${path} cannot decode [${rows}, ${c}, ${h}, ${w}] latents: ${e instanceof Error ? e.message.split("\n")[0] : e}`,
        );
      }
      if (result?.type !== "float32" || result.dims.length !== 4 || result.dims[0] !== rows)
        throw new InputError(`${path}: the decoder's output is not a float32 [${rows}, C, H, W] image`);
      dims = result.dims;
      const [, oc = 0, oh = 0, ow = 0] = dims;
      parts.push(nchwToNhwc(result.data as Float32Array, rows, oh, ow, oc).subarray(0, n * oh * ow * oc));
    }
    const [, channels = 0, height = 0, width = 0] = dims;
    if (channels !== 1 && channels !== 3)
      throw new InputError(`${path}: the decoder returns ${channels} channels; images need 1 or 3`);
    const images = new Float32Array(count * height * width * channels);
    let at = 0;
    for (const p of parts) {
      images.set(p, at);
      at += p.length;
    }
    return { images, height, width, channels };
  } finally {
    await session.release();
  }
}
