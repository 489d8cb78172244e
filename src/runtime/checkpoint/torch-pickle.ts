// The policy that lets pickle-reader.ts read a torch.save'd state_dict and nothing else: the
// few globals such a pickle names are mapped to data (an ordered dict, a storage type, a tensor
// view of a storage); every other global is refused by name before anything could use it.

import {
  PickleError,
  type PickleHooks,
  type PickleTuple,
  type PickleValue,
  readPickle,
} from "./pickle-reader.ts";
import type { DType } from "./safetensors.ts";

export interface GlobalRef {
  readonly kind: "global";
  readonly module: string;
  readonly name: string;
}

/** A storage named by a persistent id: ('storage', StorageType, key, location, numel). */
export interface StorageRef {
  readonly kind: "storage";
  readonly dtype: DType;
  readonly key: string;
  readonly location: string;
  readonly numel: number;
}

/** torch._utils._rebuild_tensor_v2: a strided view of a storage (offsets and strides in elements). */
export interface TensorRef {
  readonly kind: "tensor";
  readonly storage: StorageRef;
  readonly offset: number;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
}

export type TorchObject = GlobalRef | StorageRef | TensorRef;
export type TorchValue = PickleValue<TorchObject>;

/**
 * Storage types a state_dict of the official model holds: float weights in float32, float16 or
 * bfloat16, and int64 for buffers such as relative_position_index.
 */
export const STORAGE_DTYPES: Readonly<Record<string, DType>> = {
  FloatStorage: "F32",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  LongStorage: "I64",
};

const ALLOWED = new Set([
  "collections.OrderedDict",
  "torch._utils._rebuild_tensor_v2",
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
]);

const isObject = (v: TorchValue, kind: string): boolean =>
  typeof v === "object" && v !== null && "kind" in v && v.kind === kind;

const isInt = (v: TorchValue): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;

function intTuple(v: TorchValue | undefined, what: string): number[] {
  if (v === undefined || !isObject(v, "tuple")) throw new PickleError(`${what} is not a tuple`);
  const items = (v as PickleTuple<TorchObject>).items;
  if (!items.every(isInt)) throw new PickleError(`${what} holds a value that is not a size`);
  return items as number[];
}

function rebuildTensor(args: readonly TorchValue[]): TensorRef {
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  if (args.length < 6 || args.length > 7)
    throw new PickleError(`_rebuild_tensor_v2 takes 6 or 7 arguments, got ${args.length}`);
  const [storage, offset] = args;
  if (storage === undefined || !isObject(storage, "storage"))
    throw new PickleError("_rebuild_tensor_v2: the first argument is not a storage");
  if (offset === undefined || !isInt(offset))
    throw new PickleError("_rebuild_tensor_v2: the storage offset is not an integer");
  const shape = intTuple(args[2], "_rebuild_tensor_v2 size");
  const stride = intTuple(args[3], "_rebuild_tensor_v2 stride");
  if (shape.length !== stride.length)
    throw new PickleError(`_rebuild_tensor_v2: size (${shape}) and stride (${stride}) differ in rank`);
  const s = storage as StorageRef;
  // The last element the view touches must lie inside the storage.
  if (!shape.includes(0)) {
    const last = offset + shape.reduce((acc, d, i) => acc + (d - 1) * (stride[i] ?? 0), 0);
    if (last >= s.numel)
      throw new PickleError(
        `tensor view (offset ${offset}, size (${shape}), stride (${stride})) reads past storage ${s.key} of ${s.numel} elements`,
      );
  }
  return { kind: "tensor", storage: s, offset, shape, stride };
}

function hooks(): PickleHooks<TorchObject> {
  const storages = new Map<string, StorageRef>();
  return {
    global(module, name) {
      const full = `${module}.${name}`;
      if (!ALLOWED.has(full))
        throw new PickleError(
          `the pickle references the global ${full}, which a state_dict never needs: refused (the file is parsed, never executed; convert it to safetensors in Python if you trust it)`,
        );
      return { kind: "global", module, name };
    },
    reduce(callable, args) {
      if (!isObject(callable, "global")) throw new PickleError("REDUCE on a value that is not a global");
      const g = callable as GlobalRef;
      const full = `${g.module}.${g.name}`;
      if (full === "collections.OrderedDict") {
        if (args.length > 0) throw new PickleError("collections.OrderedDict called with arguments");
        return { kind: "dict", entries: new Map(), ordered: true };
      }
      if (full === "torch._utils._rebuild_tensor_v2") return rebuildTensor(args);
      throw new PickleError(`${full} cannot be called in a state_dict pickle`);
    },
    build(target, state) {
      // nn.Module.state_dict() sets an attribute `_metadata` (per-module versions) on the
      // OrderedDict; pickling writes it as BUILD state. It carries no weights, so it is dropped.
      if (isObject(target, "dict") && (state === null || isObject(state, "dict"))) return target;
      throw new PickleError("BUILD on a value other than a dict");
    },
    persistentLoad(pid) {
      if (!isObject(pid, "tuple")) throw new PickleError("a persistent id that is not a tuple");
      const [tag, type, key, location, numel] = (pid as PickleTuple<TorchObject>).items;
      if (tag !== "storage" || type === undefined || !isObject(type, "global"))
        throw new PickleError("a persistent id that is not ('storage', StorageType, key, location, numel)");
      const g = type as GlobalRef;
      const dtype = STORAGE_DTYPES[g.name];
      if (g.module !== "torch" || !dtype)
        throw new PickleError(`unsupported storage type ${g.module}.${g.name}`);
      if (typeof key !== "string" || typeof location !== "string" || numel === undefined || !isInt(numel))
        throw new PickleError("a storage persistent id with a malformed key, location or size");
      const seen = storages.get(key);
      if (seen) {
        if (seen.dtype !== dtype || seen.numel !== numel)
          throw new PickleError(`storage ${key} is described twice with different types or sizes`);
        return seen;
      }
      const ref: StorageRef = { kind: "storage", dtype, key, location, numel };
      storages.set(key, ref);
      return ref;
    },
  };
}

/** Parses the data.pkl of a torch.save zip into a value tree whose tensors are storage views. */
export function readTorchPickle(data: Uint8Array, source: string): TorchValue {
  return readPickle(data, hooks(), source);
}
