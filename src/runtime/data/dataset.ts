// In-memory datasets in the IR's layout: channels-last float32 with integer labels. Every source
// (IDX, image folders: images in [−1, 1]; latent datasets of `diffit encode`: scaled VAE
// latents) is converted once to this form, which both training engines read.
import { InputError } from "../../errors.ts";
import { LIMITS } from "../../limits.ts";
import { readIdx } from "./idx.ts";
import type { LatentDatasetInfo } from "./latent-shards.ts";
import { areaMean, centredSquare } from "./resample.ts";

export interface Dataset {
  /** [count, size, size, channels]: images in [−1, 1], or latents × their scale. */
  images: Float32Array;
  labels: Int32Array;
  count: number;
  size: number;
  channels: number;
  classNames: string[];
  /** Files skipped as unreadable (image folders with --skip-bad). */
  skipped: number;
  /** How the latents of a latent dataset were made (absent for images). */
  latents?: LatentDatasetInfo;
}

/** What a --data folder holds, for messages about one that holds nothing usable. */
export const DATA_FOLDER_HELP =
  "a data folder holds IDX files (train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz], as MNIST ships them) or one sub-folder per class of PNG or JPEG images (<folder>/<class>/<image>.png)";

export const FASHION_MNIST_CLASSES = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
];

/**
 * Places a [h, w] single-channel image of bytes into a size×size canvas: centred with −1
 * (black) padding when smaller (28 → 32 for MNIST), else centre-cropped and area-resampled.
 */
export function fitGray(
  src: Uint8Array,
  h: number,
  w: number,
  size: number,
  out: Float32Array,
  offset: number,
): void {
  if (h <= size && w <= size) {
    const top = Math.floor((size - h) / 2);
    const left = Math.floor((size - w) / 2);
    out.fill(-1, offset, offset + size * size);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++)
        out[offset + (y + top) * size + x + left] = ((src[y * w + x] ?? 0) / 255) * 2 - 1;
    }
    return;
  }
  const taps = centredSquare(w, h, size);
  const at = (row: number, column: number) => src[row * w + column] ?? 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) out[offset + y * size + x] = (areaMean(taps, x, y, at) / 255) * 2 - 1;
  }
}

/** The checked contents of an IDX image file and its label file: n images of h×w bytes. */
export interface IdxImages {
  pixels: Uint8Array;
  labels: Uint8Array;
  n: number;
  h: number;
  w: number;
}

/** An IDX image file and its label file, read and checked against each other. */
export function readIdxImages(imagesFile: string, labelsFile: string): IdxImages {
  const imgs = readIdx(imagesFile);
  const labs = readIdx(labelsFile);
  if (imgs.shape.length !== 3)
    throw new InputError(
      `${imagesFile}: expected [count, height, width], got [${imgs.shape.join(", ")}]; ${DATA_FOLDER_HELP}`,
    );
  if (labs.shape.length !== 1)
    throw new InputError(
      `${labelsFile}: expected [count] labels, got [${labs.shape.join(", ")}]; ${DATA_FOLDER_HELP}`,
    );
  const [n = 0, h = 0, w = 0] = imgs.shape;
  if (n === 0) throw new InputError(`${imagesFile} holds no images; ${DATA_FOLDER_HELP}`);
  if (Math.min(h, w) < LIMITS.imageMinSide)
    throw new InputError(
      `${imagesFile} holds ${w}×${h} images, too small to train on (at least ${LIMITS.imageMinSide} pixels a side); ${DATA_FOLDER_HELP}`,
    );
  if (labs.shape[0] !== n)
    throw new InputError(
      `${imagesFile} has ${n} images but ${labelsFile} has ${labs.shape[0]} labels; give the images and labels of one download`,
    );
  return { pixels: imgs.data, labels: labs.data, n, h, w };
}

/** Class names of IDX labels: Fashion-MNIST's for labels 0–9, else the numbers. */
export function idxClassNames(labels: ArrayLike<number>): string[] {
  let maxLabel = 0;
  for (let i = 0; i < labels.length; i++) maxLabel = Math.max(maxLabel, labels[i] ?? 0);
  return maxLabel < 10 ? FASHION_MNIST_CLASSES : Array.from({ length: maxLabel + 1 }, (_, i) => String(i));
}

/** An IDX image file and its label file (MNIST / Fashion-MNIST), gzipped or not. */
export function loadIdxDataset(
  imagesFile: string,
  labelsFile: string,
  size: number,
  limit?: number,
): Dataset {
  const { pixels, labels: bytes, n, h, w } = readIdxImages(imagesFile, labelsFile);
  const count = Math.min(n, limit ?? n);
  const images = new Float32Array(count * size * size);
  for (let i = 0; i < count; i++)
    fitGray(pixels.subarray(i * h * w, (i + 1) * h * w), h, w, size, images, i * size * size);
  const labels = Int32Array.from(bytes.subarray(0, count));
  return { images, labels, count, size, channels: 1, classNames: idxClassNames(labels), skipped: 0 };
}
