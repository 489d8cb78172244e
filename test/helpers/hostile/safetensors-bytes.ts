// Safetensors files taken apart and put back together with one thing changed: the header as a
// plain object, the data as bytes, for hostile variants a writer would never produce.

export interface RawSafetensors {
  header: Record<string, unknown>;
  data: Uint8Array;
}

export function split(buf: Uint8Array): RawSafetensors {
  const n = Number(Buffer.from(buf).readBigUInt64LE(0));
  const header = JSON.parse(Buffer.from(buf.subarray(8, 8 + n)).toString("utf8")) as Record<string, unknown>;
  // Copies: a Buffer's slice is a view, and each variant must change only its own bytes.
  return { header, data: new Uint8Array(buf.subarray(8 + n)) };
}

/** A file from a header (any JSON value, or raw header text) and data; `length` overrides the prefix. */
export function join(header: unknown, data: Uint8Array, length?: bigint): Buffer {
  const text = Buffer.from(typeof header === "string" ? header : JSON.stringify(header), "utf8");
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(length ?? BigInt(text.length));
  return Buffer.concat([prefix, text, data]);
}

/** A deep copy of the header, changed by `edit`. */
export function edited(raw: RawSafetensors, edit: (h: Record<string, unknown>) => void): Buffer {
  const h = structuredClone(raw.header);
  edit(h);
  return join(h, raw.data);
}

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** The tensor entries of a header (no __metadata__), in file order. */
export function entries(h: Record<string, unknown>): [string, Entry][] {
  return Object.entries(h)
    .filter(([k]) => k !== "__metadata__")
    .map(([k, v]) => [k, v as Entry] as [string, Entry])
    .sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
}

/** A copy of the file with the float32 values of `name` set by `values(i)`. */
export function withValues(
  raw: RawSafetensors,
  name: string,
  values: (i: number, n: number) => number,
): Buffer {
  const e = raw.header[name] as Entry | undefined;
  if (!e) throw new Error(`no tensor ${name}`);
  const data = new Uint8Array(raw.data);
  const [begin, end] = e.data_offsets;
  const view = new DataView(data.buffer, data.byteOffset + begin, end - begin);
  const n = (end - begin) / 4;
  for (let i = 0; i < n; i++) view.setFloat32(4 * i, values(i, n), true);
  return join(raw.header, data);
}

/** Re-encodes the float32 tensors under `prefix` (all when "") as float16 or bfloat16 bits. */
export function narrowed(raw: RawSafetensors, dtype: "F16" | "BF16", prefix = ""): Buffer {
  const h = structuredClone(raw.header);
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, e] of entries(raw.header)) {
    const bytes = raw.data.subarray(e.data_offsets[0], e.data_offsets[1]);
    let out: Uint8Array = bytes;
    if (name.startsWith(prefix) && e.dtype === "F32") {
      const f = new Float32Array(new Uint8Array(bytes).buffer);
      const half = new Uint16Array(f.length);
      const bits = new Uint32Array(f.buffer);
      for (let i = 0; i < f.length; i++)
        half[i] = dtype === "BF16" ? (bits[i] ?? 0) >>> 16 : toHalf(f[i] ?? 0);
      out = new Uint8Array(half.buffer);
      (h[name] as Entry).dtype = dtype;
    }
    (h[name] as Entry).data_offsets = [offset, offset + out.byteLength];
    offset += out.byteLength;
    parts.push(out);
  }
  return join(h, Buffer.concat(parts));
}

/** float16 bits of a small float (weights of the test specs are well inside float16's range). */
function toHalf(v: number): number {
  if (v === 0) return 0;
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 ? 0x8000 : 0;
  if (!Number.isFinite(v)) return sign + 0x7c00;
  const a = Math.abs(v);
  const exp = Math.floor(Math.log2(a));
  if (exp < -14) return sign + Math.round(a / 2 ** -24);
  // A mantissa that rounds up to 1024 carries into the exponent, as it should.
  return sign + ((exp + 15) << 10) + Math.round((a / 2 ** exp - 1) * 1024);
}
