// The container torch.save has written since PyTorch 1.6: a zip holding `<root>/data.pkl` (the
// pickled object, tensors as persistent ids) and one file `<root>/data/<key>` per storage, raw
// little-endian. The pickle is read by torch-pickle.ts (never executed); tensors are materialised
// lazily, one storage at a time, so a checkpoint's optimizer state is never inflated when only
// its model is imported.
import { unzipSync } from "fflate";
import { InputError } from "../../errors.ts";
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

function unzipOne(buf: Uint8Array, name: string, source: string): Uint8Array | undefined {
  try {
    return unzipSync(buf, { filter: (f) => f.name === name })[name];
  } catch (e) {
    throw new InputError(`${source}: unreadable zip (${e instanceof Error ? e.message : e})`);
  }
}

export function openTorchZip(buf: Uint8Array, source: string): TorchZip {
  const names: string[] = [];
  try {
    unzipSync(buf, {
      filter: (f) => {
        names.push(f.name);
        return false;
      },
    });
  } catch (e) {
    throw new InputError(`${source}: unreadable zip (${e instanceof Error ? e.message : e})`);
  }
  // The root folder is named after the file by older torch versions and "archive" by newer ones.
  const pkl = names.filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  const [pklName] = pkl;
  if (!pklName || pkl.length > 1)
    throw new InputError(
      `${source}: not a torch.save zip (expected one <root>/data.pkl, found ${pkl.length ? pkl.join(", ") : "none"})`,
    );
  const root = pklName.slice(0, -"data.pkl".length);
  const byteorder = names.includes(`${root}byteorder`)
    ? unzipOne(buf, `${root}byteorder`, source)
    : undefined;
  if (byteorder && new TextDecoder().decode(byteorder).trim() !== "little")
    throw new InputError(`${source}: big-endian storages are not supported`);

  let value: TorchValue;
  try {
    value = readTorchPickle(unzipOne(buf, pklName, source) ?? new Uint8Array(), `${source}:${pklName}`);
  } catch (e) {
    if (e instanceof PickleError) throw new InputError(e.message);
    throw e;
  }

  const storages = new Map<string, Uint8Array>();
  const storage = (key: string): Uint8Array => {
    const seen = storages.get(key);
    if (seen) return seen;
    const bytes = unzipOne(buf, `${root}data/${key}`, source);
    if (!bytes)
      throw new InputError(`${source}: the pickle names storage ${key}, but ${root}data/${key} is missing`);
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
          `${source}: storage ${ref.storage.key} has ${bytes.byteLength} bytes, the pickle says ${ref.storage.numel} × ${size}`,
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
