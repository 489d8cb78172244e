// Resolves a --data argument to a Dataset: a directory of IDX files (MNIST / Fashion-MNIST
// names, gzipped or not) or a folder of class sub-folders of images.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { InputError } from "../../errors.ts";
import { DATA_FOLDER_HELP, type Dataset, loadIdxDataset } from "./dataset.ts";
import { loadImageFolder } from "./image-folder.ts";

export interface DataOptions {
  size: number;
  channels: number;
  split: "train" | "test";
  limit?: number;
  skipBad?: boolean;
}

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

export function loadData(path: string, o: DataOptions): Dataset {
  if (!existsSync(path)) throw new InputError(`data path ${path} does not exist; ${DATA_FOLDER_HELP}`);
  if (!statSync(path).isDirectory())
    throw new InputError(`data path ${path} is not a directory; ${DATA_FOLDER_HELP}`);
  const idx = idxPair(path, o.split);
  if (idx) {
    if (o.channels !== 1)
      throw new InputError(`${path} holds single-channel IDX images but the spec has ${o.channels} channels`);
    return loadIdxDataset(idx[0], idx[1], o.size, o.limit);
  }
  const hasIdx = readdirSync(path).some((f) => f.includes("-idx"));
  if (hasIdx)
    throw new InputError(
      `${path} has IDX files but no ${o.split === "train" ? "train" : "t10k"}-images/labels pair for the ${o.split} split; ${DATA_FOLDER_HELP}`,
    );
  return loadImageFolder(path, o);
}
