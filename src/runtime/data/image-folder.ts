// Image folders: one sub-folder per class (sorted names become labels 0..K−1), PNG or JPEG files,
// converted to the spec's channels, centre-cropped to a square and area-resampled to its resolution.
import { readdirSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { InputError } from "../../errors.ts";
import { type DecodedImage as Decoded, decodeImageFile } from "../images/image-file.ts";
import { DATA_FOLDER_HELP, type Dataset } from "./dataset.ts";
import { areaMean, centredSquare } from "./resample.ts";

const IMAGE = new Set([".png", ".jpg", ".jpeg"]);

/** The names in a folder, or an InputError naming it. */
function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    throw new InputError(`cannot list the data folder ${dir}: ${(e as Error).message}`);
  }
}

/** Whether `path` is a directory (a dangling link or an unreadable entry is not). */
function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Writes one decoded image into `out` at `offset` as size×size×channels in [−1, 1]: the centred
 * square crop of a non-square image (as torchvision's Resize + CenterCrop; squashing would distort
 * it), area-resampled to size×size.
 */
export function fitImage(
  img: Decoded,
  size: number,
  channels: number,
  out: Float32Array,
  offset: number,
): void {
  const taps = centredSquare(img.width, img.height, size);
  // Channel c of the source pixel at (row, column) in the RGBA bytes.
  const channel = (c: number) => (row: number, column: number) =>
    img.rgba[(row * img.width + column) * 4 + c] ?? 0;
  const [red, green, blue] = [channel(0), channel(1), channel(2)];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const rgb = [areaMean(taps, x, y, red), areaMean(taps, x, y, green), areaMean(taps, x, y, blue)];
      const [r = 0, g = 0, b = 0] = rgb;
      const o = offset + (y * size + x) * channels;
      if (channels === 1) out[o] = ((0.299 * r + 0.587 * g + 0.114 * b) / 255) * 2 - 1;
      else for (let c = 0; c < channels; c++) out[o + c] = ((rgb[c] ?? 0) / 255) * 2 - 1;
    }
  }
}

/** The images of a folder of class sub-folders: sorted class names (labels 0..K−1), then sorted files. */
export interface ImageFolderListing {
  classNames: string[];
  files: { file: string; label: number }[];
}

export function listImageFolder(dir: string): ImageFolderListing {
  const classNames = list(dir)
    .filter((d) => isDirectory(join(dir, d)))
    .sort();
  if (classNames.length === 0)
    throw new InputError(
      `${dir} has no class sub-folders (expected ${dir}/<class>/<image>.png); ${DATA_FOLDER_HELP}`,
    );
  const files: { file: string; label: number }[] = [];
  classNames.forEach((name, label) => {
    for (const f of list(join(dir, name)).sort()) {
      if (IMAGE.has(extname(f).toLowerCase())) files.push({ file: join(dir, name, f), label });
    }
  });
  if (files.length === 0)
    throw new InputError(`${dir} has no PNG or JPEG images in its class folders; ${DATA_FOLDER_HELP}`);
  return { classNames, files };
}

export function loadImageFolder(
  dir: string,
  o: { size: number; channels: number; limit?: number; skipBad?: boolean },
): Dataset {
  const { classNames, files } = listImageFolder(dir);
  const wanted = files.slice(0, o.limit ?? files.length);
  const per = o.size * o.size * o.channels;
  const images = new Float32Array(wanted.length * per);
  const labels = new Int32Array(wanted.length);
  let count = 0;
  let skipped = 0;
  let firstSkip = "";
  for (const { file, label } of wanted) {
    let img: Decoded;
    try {
      img = decodeImageFile(file);
    } catch (e) {
      if (o.skipBad) {
        skipped++;
        firstSkip ||= e instanceof Error ? e.message : String(e);
        continue;
      }
      throw new InputError(`${e instanceof Error ? e.message : e} (use --skip-bad to skip unreadable files)`);
    }
    fitImage(img, o.size, o.channels, images, count * per);
    labels[count] = label;
    count++;
  }
  if (count === 0)
    throw new InputError(
      `${dir} has no usable images: all ${skipped} were unreadable or degenerate and skipped (the first: ${firstSkip}); ${DATA_FOLDER_HELP}`,
    );
  return {
    images: images.subarray(0, count * per),
    labels: labels.subarray(0, count),
    count,
    size: o.size,
    channels: o.channels,
    classNames,
    skipped,
  };
}
