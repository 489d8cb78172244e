// A small pickle writer for tests (torch is not installed here): it emits protocol 2 with the
// opcodes and memo pattern Python's pickler uses when torch.save writes a state_dict, so the
// reader is tested against the byte patterns real checkpoints contain. Also writes the zip
// container of torch.save (root folder "archive", one file per storage).
import { zipSync } from "fflate";

export type PyValue =
  | null
  | boolean
  | number
  | string
  | { py: "float"; value: number }
  | { py: "tuple"; items: PyValue[] }
  | { py: "list"; items: PyValue[] }
  | { py: "dict"; entries: [PyValue, PyValue][] }
  /** collections.OrderedDict(), filled with SETITEMS, then BUILD with `state` when given. */
  | { py: "ordered-dict"; entries: [PyValue, PyValue][]; state?: PyValue }
  | { py: "global"; module: string; name: string }
  | { py: "reduce"; callable: PyValue; args: PyValue[] }
  | { py: "persid"; pid: PyValue }
  /** Bytes written verbatim (for malformed or hostile pickles). */
  | { py: "raw"; bytes: number[] };

export const tuple = (...items: PyValue[]): PyValue => ({ py: "tuple", items });
export const global = (module: string, name: string): PyValue => ({ py: "global", module, name });
export const orderedDict = (entries: [PyValue, PyValue][], state?: PyValue): PyValue =>
  state === undefined ? { py: "ordered-dict", entries } : { py: "ordered-dict", entries, state };

class Writer {
  private readonly out: number[] = [];
  private memoSize = 0;
  private readonly globals = new Map<string, number>();

  bytes(b: Iterable<number>) {
    for (const x of b) this.out.push(x);
  }
  u32(n: number) {
    this.bytes([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff]);
  }
  /** BINPUT / LONG_BINPUT the top of the stack, as the pickler does after each new object. */
  memoize(): number {
    const i = this.memoSize++;
    if (i < 256) this.bytes([0x71, i]);
    else {
      this.bytes([0x72]);
      this.u32(i);
    }
    return i;
  }
  text(s: string) {
    this.bytes(new TextEncoder().encode(s));
  }

  value(v: PyValue): void {
    if (v === null) {
      this.bytes([0x4e]);
      return;
    }
    if (v === true) {
      this.bytes([0x88]);
      return;
    }
    if (v === false) {
      this.bytes([0x89]);
      return;
    }
    if (typeof v === "number") {
      this.int(v);
      return;
    }
    if (typeof v === "string") {
      const b = new TextEncoder().encode(v);
      this.bytes([0x58]);
      this.u32(b.length);
      this.bytes(b);
      this.memoize();
      return;
    }
    switch (v.py) {
      case "float": {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setFloat64(0, v.value, false);
        this.bytes([0x47, ...b]);
        return;
      }
      case "tuple": {
        const n = v.items.length;
        if (n === 0) {
          this.bytes([0x29]);
          return;
        }
        if (n > 3) this.bytes([0x28]);
        for (const x of v.items) this.value(x);
        this.bytes([n > 3 ? 0x74 : 0x84 + n]);
        this.memoize();
        return;
      }
      case "list":
        this.bytes([0x5d]);
        this.memoize();
        if (v.items.length) {
          this.bytes([0x28]);
          for (const x of v.items) this.value(x);
          this.bytes([0x65]);
        }
        return;
      case "dict":
        this.bytes([0x7d]);
        this.memoize();
        this.setItems(v.entries);
        return;
      case "ordered-dict":
        this.value(global("collections", "OrderedDict"));
        this.bytes([0x29, 0x52]);
        this.memoize();
        this.setItems(v.entries);
        if (v.state !== undefined) {
          this.value(v.state);
          this.bytes([0x62]);
        }
        return;
      case "global": {
        const key = `${v.module}\n${v.name}\n`;
        const seen = this.globals.get(key);
        if (seen !== undefined) {
          if (seen < 256) this.bytes([0x68, seen]);
          else {
            this.bytes([0x6a]);
            this.u32(seen);
          }
          return;
        }
        this.bytes([0x63]);
        this.text(key);
        this.globals.set(key, this.memoize());
        return;
      }
      case "reduce":
        this.value(v.callable);
        this.value(tuple(...v.args));
        this.bytes([0x52]);
        this.memoize();
        return;
      case "persid":
        this.value(v.pid);
        this.bytes([0x51]);
        return;
      case "raw":
        this.bytes(v.bytes);
        return;
    }
  }

  int(n: number) {
    if (n >= 0 && n < 256) {
      this.bytes([0x4b, n]);
      return;
    }
    if (n >= 0 && n < 65536) {
      this.bytes([0x4d, n & 0xff, n >>> 8]);
      return;
    }
    if (n >= -(2 ** 31) && n < 2 ** 31) {
      this.bytes([0x4a]);
      this.u32(n >>> 0);
      return;
    }
    // LONG1: little-endian two's complement of the smallest sufficient length.
    let big = BigInt(n);
    const b: number[] = [];
    const neg = big < 0n;
    if (neg) big = -big;
    let len = 1;
    while (1n << BigInt(8 * len - 1) <= big) len++;
    let x = neg ? (1n << BigInt(8 * len)) - big : big;
    for (let i = 0; i < len; i++) {
      b.push(Number(x & 0xffn));
      x >>= 8n;
    }
    this.bytes([0x8a, len, ...b]);
  }

  setItems(entries: [PyValue, PyValue][]) {
    // The pickler batches SETITEMS by 1000 pairs.
    for (let i = 0; i < entries.length; i += 1000) {
      this.bytes([0x28]);
      for (const [k, x] of entries.slice(i, i + 1000)) {
        this.value(k);
        this.value(x);
      }
      this.bytes([0x75]);
    }
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

/** A protocol-2 pickle of `v`, as `pickle.dumps(v, protocol=2)` lays it out. */
export function writePickle(v: PyValue): Uint8Array {
  const w = new Writer();
  w.bytes([0x80, 0x02]);
  w.value(v);
  w.bytes([0x2e]);
  return w.finish();
}

// ---- torch.save ----

export type TorchDType = "F32" | "F16" | "BF16" | "I64";
const STORAGE_TYPE: Record<TorchDType, string> = {
  F32: "FloatStorage",
  F16: "HalfStorage",
  BF16: "BFloat16Storage",
  I64: "LongStorage",
};
const ELEMENT: Record<TorchDType, number> = { F32: 4, F16: 2, BF16: 2, I64: 8 };

export interface Storage {
  dtype: TorchDType;
  bytes: Uint8Array;
}

/** A tensor as torch pickles it: _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()). */
export function tensorRef(
  key: string,
  storage: Storage,
  offset: number,
  shape: number[],
  stride: number[],
): PyValue {
  const pid: PyValue = {
    py: "persid",
    pid: tuple(
      "storage",
      global("torch", STORAGE_TYPE[storage.dtype]),
      key,
      "cpu",
      storage.bytes.length / ELEMENT[storage.dtype],
    ),
  };
  return {
    py: "reduce",
    callable: global("torch._utils", "_rebuild_tensor_v2"),
    args: [pid, offset, tuple(...shape), tuple(...stride), false, orderedDict([])],
  };
}

export const contiguousStrides = (shape: readonly number[]): number[] => {
  const out = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) out[i] = (out[i + 1] ?? 1) * (shape[i + 1] ?? 1);
  return out;
};

/** The zip torch.save writes: archive/data.pkl, archive/data/<key>, byteorder and version. */
export function torchZip(pickle: Uint8Array, storages: Map<string, Storage>): Uint8Array {
  const files: Record<string, Uint8Array> = {
    "archive/data.pkl": pickle,
    "archive/byteorder": new TextEncoder().encode("little"),
  };
  for (const [key, s] of storages) files[`archive/data/${key}`] = s.bytes;
  files["archive/version"] = new TextEncoder().encode("3\n");
  // torch.save stores entries uncompressed.
  return zipSync(files, { level: 0 });
}
