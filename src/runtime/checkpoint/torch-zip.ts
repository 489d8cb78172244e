// The container torch.save has written since PyTorch 1.6: a zip holding `<root>/data.pkl` (the
// pickled object, tensors as persistent ids) and one file `<root>/data/<key>` per storage, raw
// little-endian. The pickle is read by torch-pickle.ts (never executed); tensors are materialised
// lazily, one storage at a time, so a checkpoint's optimizer state is never inflated when only
// its model is imported.
import { unzipSync } from "fflate";
import { InputError } from "../../errors.ts";
import { formatBytes, LIMITS } from "../../limits.ts";
import { PickleError } from "./pickle-reader.ts";
import { dtypeBytes, type StoredTensor } from "./safetensors.ts";
import { readTorchPickle, type TensorRef, type TorchValue } from "./torch-pickle.ts";

export interface TorchZip {
  /** The unpickled object: dicts, lists, tuples, scalars and tensor views. */
  readonly root: TorchValue;
  /** A tensor's values as a contiguous row-major StoredTensor. */
  tensor(ref: TensorRef): StoredTensor;
}

export const isZip = (buf: Uint8Array): boolean =>
  buf.byteLength >= 4 && buf[0] === 0x50 && buf[1] === 0x4b && buf[2] === 0x03 && buf[3] === 0x04;

const RESAVE = "re-save the checkpoint with torch.save (or as safetensors)";

/** A zip member as the central directory describes it, before anything is inflated. */
interface Member {
  name: string;
  size: number;
  originalSize: number;
}

/**
 * Bounds on a member before it is inflated: the inflated size is preallocated from the
 * directory, so a lying directory (or a zip bomb) must be refused by its declared numbers.
 * Deflate expands at most ~1032×: a larger declared ratio is a lie.
 */
function checkMember(f: Member, source: string): void {
  const limit = f.name.endsWith(".pkl") ? LIMITS.pickleBytes : LIMITS.fileBytes;
  if (f.originalSize > limit)
    throw new InputError(
      `${source}: zip member ${f.name} declares ${formatBytes(f.originalSize)} unpacked, more than the ${formatBytes(limit)} diffit unpacks; re-save the checkpoint (torch.save, or as safetensors)`,
    );
  if (f.originalSize > 1100 * f.size + 1024)
    throw new InputError(
      `${source}: zip member ${f.name} declares ${f.originalSize} bytes from ${f.size} compressed (no compression gets there: a corrupt or hostile file); re-save the checkpoint`,
    );
}

/** Runs fflate's unzip with a filter, its errors (and the filter's) as InputErrors naming the file. */
function unzipWith(buf: Uint8Array, source: string, filter: (f: Member) => boolean) {
  try {
    return unzipSync(buf, { filter });
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(
      `${source}: unreadable zip (${e instanceof Error ? e.message : e}); re-save the checkpoint with torch.save`,
    );
  }
}

function unzipOne(buf: Uint8Array, name: string, source: string): Uint8Array | undefined {
  return unzipWith(buf, source, (f) => {
    if (f.name !== name) return false;
    checkMember(f, source);
    return true;
  })[name];
}

export function openTorchZip(buf: Uint8Array, source: string): TorchZip {
  const names: string[] = [];
  unzipWith(buf, source, (f) => {
    // A directory claiming millions of entries is read as garbage past the real ones: stop early.
    if (names.length >= LIMITS.zipEntries)
      throw new InputError(
        `${source}: the zip lists more than ${LIMITS.zipEntries} members; a torch.save checkpoint has one per storage (a corrupt or hostile file); ${RESAVE}`,
      );
    names.push(f.name);
    return false;
  });
  // The root folder is named after the file by older torch versions and "archive" by newer ones.
  const pkl = names.filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  const [pklName] = pkl;
  if (!pklName || pkl.length > 1)
    throw new InputError(
      `${source}: not a torch.save zip (expected one <root>/data.pkl, found ${pkl.length ? pkl.join(", ") : "none"}); ${RESAVE}`,
    );
  const root = pklName.slice(0, -"data.pkl".length);
  const byteorder = names.includes(`${root}byteorder`)
    ? unzipOne(buf, `${root}byteorder`, source)
    : undefined;
  if (byteorder && new TextDecoder().decode(byteorder).trim() !== "little")
    throw new InputError(`${source}: big-endian storages are not supported; ${RESAVE}`);

  let value: TorchValue;
  try {
    value = readTorchPickle(unzipOne(buf, pklName, source) ?? new Uint8Array(), `${source}:${pklName}`);
  } catch (e) {
    if (e instanceof PickleError)
      throw new InputError(e.message.includes("never executed") ? e.message : `${e.message}; ${RESAVE}`);
    throw e;
  }

  const storages = new Map<string, Uint8Array>();
  const storage = (key: string): Uint8Array => {
    const seen = storages.get(key);
    if (seen) return seen;
    const bytes = unzipOne(buf, `${root}data/${key}`, source);
    if (!bytes)
      throw new InputError(
        `${source}: the pickle names storage ${key}, but ${root}data/${key} is missing (a damaged file?); ${RESAVE}`,
      );
    storages.set(key, bytes);
    return bytes;
  };

  return {
    root: value,
    tensor(ref) {
      const size = dtypeBytes(ref.storage.dtype);
      const bytes = storage(ref.storage.key);
      if (bytes.byteLength < ref.storage.numel * size)
        throw new InputError(
          `${source}: storage ${ref.storage.key} has ${bytes.byteLength} bytes, the pickle says ${ref.storage.numel} × ${size} (a damaged file?); ${RESAVE}`,
        );
      return { dtype: ref.storage.dtype, shape: [...ref.shape], bytes: gather(bytes, ref, size) };
    },
  };
}

/** Copies a strided view (offset and strides in elements) into a contiguous row-major buffer. */
function gather(storage: Uint8Array, ref: TensorRef, size: number): Uint8Array {
  const { shape, stride, offset } = ref;
  const count = shape.reduce((a, b) => a * b, 1);
  if (count === 0) return new Uint8Array(0);
  let contiguous = true;
  for (let i = shape.length - 1, expect = 1; i >= 0; i--) {
    const d = shape[i] ?? 1;
    if (d !== 1 && stride[i] !== expect) contiguous = false;
    expect *= d;
  }
  // The common case is a view, not a copy: a 2 GB checkpoint is then held once, not twice.
  if (contiguous) return storage.subarray(offset * size, (offset + count) * size);
  const out = new Uint8Array(count * size);
  // Odometer over the index, tracking the element offset in the storage.
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  let src = offset;
  for (let n = 0; n < count; n++) {
    out.set(storage.subarray(src * size, (src + 1) * size), n * size);
    for (let axis = rank - 1; axis >= 0; axis--) {
      const i = (index[axis] ?? 0) + 1;
      const st = stride[axis] ?? 0;
      if (i < (shape[axis] ?? 1)) {
        index[axis] = i;
        src += st;
        break;
      }
      index[axis] = 0;
      src -= st * (i - 1);
    }
  }
  return out;
}
