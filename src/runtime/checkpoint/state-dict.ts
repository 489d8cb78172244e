// A PyTorch state_dict from a file, whichever container holds it: safetensors, or a torch.save
// zip (.pt/.pth). Training scripts often save {"model": ..., "ema": ..., "opt": ...}; `key`
// selects one entry (a "/"-separated path for deeper nesting) or, in a flat file, strips a name
// prefix such as "ema." or DDP's "module.".
import { InputError, UsageError } from "../../errors.ts";
import { readRegularFile } from "../../files.ts";
import type { PickleDict, PickleKey } from "./pickle-reader.ts";
import { decodeSafetensors, type StoredTensor } from "./safetensors.ts";
import type { TensorRef, TorchObject, TorchValue } from "./torch-pickle.ts";
import { isZip, openTorchZip } from "./torch-zip.ts";

export interface StateDict {
  tensors: Map<string, StoredTensor>;
  format: "safetensors" | "torch-zip";
}

type TorchDict = PickleDict<TorchObject>;

const isDict = (v: TorchValue | undefined): v is TorchDict =>
  typeof v === "object" && v !== null && "kind" in v && v.kind === "dict";
const isTensor = (v: TorchValue | undefined): v is TensorRef =>
  typeof v === "object" && v !== null && "kind" in v && v.kind === "tensor";
const isStateDict = (d: TorchDict): boolean =>
  d.entries.size > 0 && [...d.entries].every(([k, v]) => typeof k === "string" && isTensor(v));

const keyList = (keys: Iterable<PickleKey>) => [...keys].map((k) => JSON.stringify(k)).join(", ");

/** Names of a flat tensor map under `prefix.`, with the prefix removed. */
function stripPrefix<T>(entries: Iterable<[string, T]>, prefix: string): Map<string, T> {
  const out = new Map<string, T>();
  for (const [name, v] of entries)
    if (name.startsWith(`${prefix}.`)) out.set(name.slice(prefix.length + 1), v);
  return out;
}

/** The distinct first name components, to suggest a --key. */
function prefixes(names: Iterable<string>): string[] {
  return [...new Set([...names].map((n) => n.split(".")[0] ?? n))];
}

function fromSafetensors(buf: Uint8Array, path: string, key: string | undefined): StateDict {
  let tensors = decodeSafetensors(buf, path).tensors;
  if (key !== undefined) {
    const inner = stripPrefix(tensors, key.replaceAll("/", "."));
    if (inner.size === 0)
      throw new UsageError(
        `${path} has no tensors named ${key}.*; its names start with ${prefixes(tensors.keys()).join(", ")}`,
      );
    tensors = inner;
  }
  return { tensors, format: "safetensors" };
}

function fromTorchZip(buf: Uint8Array, path: string, key: string | undefined): StateDict {
  const zip = openTorchZip(buf, path);
  let node: TorchValue = zip.root;
  let where = "the checkpoint";
  let prefixed: Map<string, TensorRef> | undefined;
  for (const part of key === undefined ? [] : key.split("/")) {
    if (!isDict(node)) throw new UsageError(`--key ${key}: ${where} is not a dict`);
    const next = node.entries.get(part);
    if (next !== undefined) {
      node = next;
      where = `${where}["${part}"]`;
      continue;
    }
    if (isStateDict(node)) {
      const inner = stripPrefix(node.entries as Map<string, TensorRef>, part);
      if (inner.size > 0) {
        prefixed = inner;
        break;
      }
    }
    throw new UsageError(
      `--key ${key}: ${where} has no entry "${part}" (it has ${keyList(node.entries.keys())})`,
    );
  }
  let refs = prefixed;
  if (!refs) {
    if (!isDict(node) || !isStateDict(node)) {
      const candidates = isDict(node)
        ? [...node.entries].filter(([, v]) => isDict(v) && isStateDict(v)).map(([k]) => String(k))
        : [];
      const hint = candidates.length
        ? `; choose one with --key (${candidates.join(", ")})`
        : isDict(node)
          ? ` (keys ${keyList(node.entries.keys())})`
          : "";
      throw new UsageError(`${path}: ${where} is not a state_dict of tensors${hint}`);
    }
    refs = node.entries as Map<string, TensorRef>;
  }
  const tensors = new Map<string, StoredTensor>();
  for (const [name, ref] of refs) tensors.set(name, zip.tensor(ref));
  return { tensors, format: "torch-zip" };
}

/** Reads the state_dict of a safetensors or torch.save zip file. */
export function readStateDict(path: string, key?: string): StateDict {
  const buf = readRegularFile(path, {
    what: "checkpoint",
    hint: "Node.js buffers end at 4 GiB: save the state_dict alone (without optimizer state), or in float16",
  });
  if (isZip(buf)) return fromTorchZip(buf, path, key);
  if (buf[0] === 0x80)
    throw new InputError(
      `${path} is a legacy (pre-1.6) torch.save file; re-save it with a current PyTorch (zip format) or as safetensors`,
    );
  return fromSafetensors(buf, path, key);
}
