// Every bound diffit puts on its inputs, in one place, so a small or hostile file cannot turn
// into unbounded work or memory, and so the README can list them. Each limit is far above what
// a real spec, checkpoint or dataset needs; crossing one is an error that names the file and
// the limit, never an out-of-memory abort or a hang.

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export const LIMITS = {
  // Spec front end.
  /** Bytes of one spec file (the paper's largest spec is ~2 KB). */
  specBytes: 1 * MiB,
  /** Bytes of all the files one spec reads through extends and imports together. */
  specTreeBytes: 8 * MiB,
  /** Files one spec reads through extends and imports, itself included (real specs: 1–3). */
  specFiles: 64,
  /** Links of an extends chain (real specs: 1–2). */
  extendsChain: 16,
  /** Objects and arrays nested in a spec value (real specs: 5; variant settings add 2). */
  specNesting: 64,
  /** Values (objects, arrays, strings, numbers…) in one evaluated spec file (real specs: ~150). */
  specValues: 10_000,
  /** Syntax-tree depth of a TypeScript spec: TypeScript's parser and checker recurse on it. */
  tsSyntaxDepth: 256,
  /** Specs one file's variants expand to (real sweeps: tens). */
  variants: 1000,
  /** Variants × values of the spec they copy: what expanding a matrix allocates. */
  variantValues: 1_000_000,
  /** JSON syntax errors reported per file: after a few, the rest are consequences. */
  syntaxErrors: 20,
  // Spec fields (schema maxima): sizes a valid spec may ask for, so that validating, inspecting
  // or building the largest valid spec stays small. The paper's largest models: 4 image
  // stages of depth ≤ 4, latent depth 28 (30 in the text), hidden 1152, 16 heads, 1000 classes.
  /** Image stages (each halves the resolution: 12 stages need a 4096-pixel input). */
  stages: 12,
  /** DiffiT blocks in one image stage. */
  stageDepth: 32,
  /** Transformer blocks of a latent model. */
  latentDepth: 128,
  /** Channels, hidden width, time widths and GroupNorm groups. */
  width: 8192,
  /** Attention heads. */
  heads: 256,
  /** Attention window, in pixels or tokens. */
  window: 1024,
  /** Input height and width, in pixels or latent cells. */
  inputSize: 4096,
  /** Input channels (images: 1–4; VAE latents: 4–16). */
  inputChannels: 64,
  /** Class labels (ImageNet-21k: 21,841). */
  classes: 100_000,
  /** Patch size of a latent model. */
  patchSize: 64,
  /** MLP hidden width / width. */
  mlpRatio: 64,
  /** Training timesteps of DDPM diffusion (ADM: 1000–4000). */
  diffusionSteps: 100_000,
  /** Sampler steps. */
  samplerSteps: 10_000,
  /** Images per training step. */
  batchSize: 65_536,
  /** Output channels listed for guidance. */
  guidanceChannels: 128,

  // Files read whole.
  /** Bytes of a safetensors header (the format's own reference reader refuses larger ones). */
  safetensorsHeaderBytes: 100 * MiB,
  /** Bytes of any file read into memory at once (Node's largest Buffer is 4 GiB). */
  fileBytes: 4 * GiB - 1,

  // Files and data.
  /**
   * Bytes of an ONNX model file (the graph, and the weights when inline): protobuf's own 2 GiB
   * limit. Larger models keep their weights in external data beside the file, not counted here.
   */
  onnxModelBytes: 2 * GiB,
  /** Bytes of one PNG or JPEG file of an image folder (a 64-megapixel PNG is ~200 MB at most). */
  imageFileBytes: 256 * MiB,
  /** Width or height of one image, read from its header before decoding (a wide panorama fits). */
  imageSide: 32_768,
  /** Pixels of one image (4 bytes each once decoded: 256 MiB; phone photos are 12 to 50 M). */
  imagePixels: 64 * MiB,
  /** Shorter side of a usable image: a one-pixel-wide strip has no picture in it to learn from. */
  imageMinSide: 2,
  /**
   * Bytes of one IDX file's data, after gunzip when gzipped (full MNIST's training images are
   * 47 MB, EMNIST's largest 640 MB); a gzip member is inflated only up to what its header declares.
   */
  idxBytes: 1 * GiB,
  /**
   * Bytes of one latent shard of `diffit encode` (read whole; the default 1024 images of 256²
   * SD-VAE latents with flipped copies are 32 MiB).
   */
  latentShardBytes: 2 * GiB,
  /** Shards of one latent dataset (ImageNet-1k in 1024-image shards: 1252). */
  latentShards: 100_000,
  /**
   * Bytes of the latents of one dataset, all held in memory while training (the 100 classes of
   * ImageNet-100 at 256², with flips, are 4 GiB; the whole of ImageNet-1k is ~40 GiB: train on a
   * subset, or encode without --flip).
   */
  latentDatasetBytes: 8 * GiB,
  /** Bytes of the pickle of a torch.save zip, unpacked (a state_dict's is ~100 KB, with optimizer state a few MB). */
  pickleBytes: 256 * MiB,
  /**
   * Members of a torch.save zip (one per storage: ~700 for the largest official model, a few
   * thousand with optimizer state); a directory claiming more is read as garbage past the real ones.
   */
  zipEntries: 20_000,
} as const;

export type LimitName = keyof typeof LIMITS;

/** "1 MiB", "4 GiB": a byte count as a person reads it. */
export function formatBytes(n: number): string {
  if (n >= GiB) return `${+(n / GiB).toFixed(1)} GiB`;
  if (n >= MiB) return `${+(n / MiB).toFixed(1)} MiB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}
