// Images one at a time, for work that streams over a dataset too large to hold decoded
// (`diffit encode`): an IDX folder or an image folder, listed up front (labels, class names, a
// digest of what was listed), each image read and fitted to size×size×channels when asked.
import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { relative } from "node:path";
import { InputError } from "../../errors.ts";
import { decodeImageFile } from "../images/image-file.ts";
import { fitGray, idxClassNames, readIdxImages } from "./dataset.ts";
import { fitImage, listImageFolder } from "./image-folder.ts";
import { dataFolder } from "./load-data.ts";

export interface ImageSource {
  /** Images listed (after --limit). */
  count: number;
  labels: Int32Array;
  classNames: string[];
  /** sha256 of what was listed: relative names, labels and sizes (folders), pixels and labels (IDX). */
  digest: string;
  /** Image `i` as messages name it: its file, or its index in the IDX file. */
  name(i: number): string;
  /**
   * Writes image `i` at out[offset…] as size×size×channels channels-last values in [−1, 1]
   * (grey IDX images repeated over 3 channels); an InputError names an unreadable file.
   */
  read(i: number, out: Float32Array, offset: number): void;
}

export interface SourceOptions {
  size: number;
  /** 1 or 3. */
  channels: number;
  limit?: number;
}

/** The images of `path` (IDX or image folder; the train split of IDX). */
export function openImageSource(path: string, o: SourceOptions): ImageSource {
  const folder = dataFolder(path, "train");
  if (folder.kind === "latents")
    throw new InputError(
      `${path} holds latents already (a dataset of diffit encode); give the folder of the images to encode`,
    );
  if (folder.kind === "idx") return idxSource(folder.images, folder.labels, o);
  return folderSource(path, o);
}

function idxSource(imagesFile: string, labelsFile: string, o: SourceOptions): ImageSource {
  const { pixels, labels: bytes, n, h, w } = readIdxImages(imagesFile, labelsFile);
  const count = Math.min(n, o.limit ?? n);
  const labels = Int32Array.from(bytes.subarray(0, count));
  const grey = new Float32Array(o.size * o.size);
  const digest = createHash("sha256")
    .update(`idx ${h}×${w}\n`)
    .update(pixels.subarray(0, count * h * w))
    .update(bytes.subarray(0, count))
    .digest("hex");
  return {
    count,
    labels,
    classNames: idxClassNames(labels),
    digest,
    name: (i) => `${imagesFile}[${i}]`,
    read(i, out, offset) {
      fitGray(pixels.subarray(i * h * w, (i + 1) * h * w), h, w, o.size, grey, 0);
      for (let p = 0; p < grey.length; p++)
        for (let c = 0; c < o.channels; c++) out[offset + p * o.channels + c] = grey[p] ?? 0;
    },
  };
}

function folderSource(dir: string, o: SourceOptions): ImageSource {
  const listing = listImageFolder(dir);
  const files = listing.files.slice(0, o.limit ?? listing.files.length);
  const hash = createHash("sha256");
  for (const { file, label } of files) {
    let size = -1;
    try {
      size = statSync(file).size;
    } catch {
      // An unreadable file is named when it is read.
    }
    hash.update(`${relative(dir, file)}\t${label}\t${size}\n`);
  }
  return {
    count: files.length,
    labels: Int32Array.from(files, (f) => f.label),
    classNames: listing.classNames,
    digest: hash.digest("hex"),
    name: (i) => files[i]?.file ?? String(i),
    read(i, out, offset) {
      const entry = files[i];
      if (!entry) throw new InputError(`${dir}: no image ${i}`);
      fitImage(decodeImageFile(entry.file), o.size, o.channels, out, offset);
    },
  };
}
