// Resolves a --data argument: a directory of IDX files (MNIST / Fashion-MNIST names, gzipped or
// not), a folder of class sub-folders of images, or a latent dataset written by `diffit encode`.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { InputError } from "../../errors.ts";
import { DATA_FOLDER_HELP, type Dataset, loadIdxDataset } from "./dataset.ts";
import { loadImageFolder } from "./image-folder.ts";
import { type LatentTarget, loadLatentDataset } from "./latent-dataset.ts";
import { isLatentFolder } from "./latent-shards.ts";

export interface DataOptions {
  size: number;
  channels: number;
  split: "train" | "test";
  limit?: number;
  skipBad?: boolean;
}

/** What a --data folder holds. */
export type DataFolder =
  | { kind: "idx"; images: string; labels: string }
  | { kind: "images" }
  | { kind: "latents" };

function idxPair(dir: string, split: "train" | "test"): [string, string] | undefined {
  const prefix = split === "train" ? "train" : "t10k";
  const find = (kind: string) => {
    for (const ext of ["", ".gz"]) {
      const f = join(dir, `${prefix}-${kind}${ext}`);
      if (existsSync(f)) return f;
    }
    return undefined;
  };
  const images = find("images-idx3-ubyte");
  const labels = find("labels-idx1-ubyte");
  return images && labels ? [images, labels] : undefined;
}

/** What `path` holds, after checking that it is a directory. */
export function dataFolder(path: string, split: "train" | "test"): DataFolder {
  if (!existsSync(path)) throw new InputError(`data path ${path} does not exist; ${DATA_FOLDER_HELP}`);
  if (!statSync(path).isDirectory())
    throw new InputError(`data path ${path} is not a directory; ${DATA_FOLDER_HELP}`);
  if (isLatentFolder(path)) return { kind: "latents" };
  const idx = idxPair(path, split);
  if (idx) return { kind: "idx", images: idx[0], labels: idx[1] };
  const hasIdx = readdirSync(path).some((f) => f.includes("-idx"));
  if (hasIdx)
    throw new InputError(
      `${path} has IDX files but no ${split === "train" ? "train" : "t10k"}-images/labels pair for the ${split} split; ${DATA_FOLDER_HELP}`,
    );
  return { kind: "images" };
}

/** What a folder of each kind holds, for messages. */
const DATA_KIND_NAMES: Record<DataFolder["kind"], string> = {
  idx: "IDX images",
  images: "images",
  latents: "a latent dataset (diffit encode)",
};

/**
 * The latent dataset of a latent spec. A folder of images is refused with the way from images
 * to latents: a latent spec trains on the VAE's latents, which `diffit encode` makes once.
 */
export function loadLatentData(path: string, spec: LatentTarget & { file: string }, limit?: number): Dataset {
  const folder = dataFolder(path, "train");
  if (folder.kind !== "latents")
    throw new InputError(
      `${path} holds ${DATA_KIND_NAMES[folder.kind]}, but ${spec.name} is a latent spec: it trains on VAE latents, not pixels. Encode the images once with the VAE's encoder, then train on the latents:\n  diffit encode --vae-encoder <encoder.onnx> --data ${path} --spec ${spec.file} -o <latents>\n  diffit train ${spec.file} --data <latents>`,
    );
  return loadLatentDataset(path, spec, limit);
}

/** Images of an IDX folder or an image folder as a Dataset. */
export function loadData(path: string, o: DataOptions): Dataset {
  const folder = dataFolder(path, o.split);
  if (folder.kind === "latents")
    throw new InputError(
      `${path} holds VAE latents (diffit encode), which latent specs train on; this needs images: ${DATA_FOLDER_HELP}`,
    );
  if (folder.kind === "idx") {
    if (o.channels !== 1)
      throw new InputError(`${path} holds single-channel IDX images but the spec has ${o.channels} channels`);
    return loadIdxDataset(folder.images, folder.labels, o.size, o.limit);
  }
  return loadImageFolder(path, o);
}
