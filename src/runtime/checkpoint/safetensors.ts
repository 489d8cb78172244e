// The safetensors format: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__: {string: string}}, then the
// raw little-endian tensor bytes. Parsing validates every offset before touching data.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { InputError } from "../../errors.ts";
import { readRegularFile, readRegularFileStart } from "../../files.ts";
import { formatBytes, LIMITS } from "../../limits.ts";
import { writeError } from "../write-error.ts";

export type DType = "F32" | "F16" | "BF16" | "I32" | "I64" | "U8";

const BYTES: Record<DType, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, U8: 1 };

/** Bytes per element of a dtype. */
export const dtypeBytes = (d: DType): number => BYTES[d];

export interface StoredTensor {
  dtype: DType;
  shape: number[];
  /** Little-endian bytes of the tensor (a view into the file buffer when read). */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  tensors: Map<string, StoredTensor>;
  metadata: Record<string, string>;
}

/** A file that is not valid safetensors: bad input (exit 1), its message names the file. */
export class SafetensorsError extends InputError {}

const isDType = (v: unknown): v is DType => typeof v === "string" && Object.hasOwn(BYTES, v);

export function float32Tensor(values: Float32Array, shape: readonly number[]): StoredTensor {
  return {
    dtype: "F32",
    shape: [...shape],
    bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  };
}

/** Float dtypes whose values widen exactly to float32. */
export const FLOAT_DTYPES: readonly DType[] = ["F32", "F16", "BF16"];

export const isFloat = (d: DType): boolean => FLOAT_DTYPES.includes(d);

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * The values of a float tensor as float32 (copied, so the result is aligned and independent of
 * the file); float16 and bfloat16 widen exactly.
 */
export function toFloat32(t: StoredTensor): Float32Array {
  const n = t.bytes.byteLength / BYTES[t.dtype];
  const out = new Float32Array(n);
  if (t.dtype === "F32") {
    new Uint8Array(out.buffer).set(t.bytes);
    return out;
  }
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  if (t.dtype === "F16") for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  else if (t.dtype === "BF16") {
    // bfloat16 is the top half of a float32.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16;
  } else throw new SafetensorsError(`a ${t.dtype} tensor holds integers, not float weights`);
  return out;
}

export function encodeSafetensors(file: SafetensorsFile): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(file.metadata).length > 0) header.__metadata__ = file.metadata;
  let offset = 0;
  const names = [...file.tensors.keys()].sort();
  for (const name of names) {
    const t = file.tensors.get(name);
    if (!t) continue;
    const expected = t.shape.reduce((a, b) => a * b, 1) * BYTES[t.dtype];
    if (expected !== t.bytes.byteLength)
      throw new SafetensorsError(`${name}: ${t.bytes.byteLength} bytes for shape [${t.shape}] ${t.dtype}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.byteLength] };
    offset += t.bytes.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  json += " ".repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const head = Buffer.from(json, "utf8");
  const out = Buffer.alloc(8 + head.length + offset);
  out.writeBigUInt64LE(BigInt(head.length), 0);
  head.copy(out, 8);
  let at = 8 + head.length;
  for (const name of names) {
    const t = file.tensors.get(name);
    if (!t) continue;
    out.set(t.bytes, at);
    at += t.bytes.byteLength;
  }
  return out;
}

/** What a file that is not safetensors probably is, from its first bytes: the usual mix-ups. */
function foreignFormatHint(buf: Uint8Array): string {
  const start = new TextDecoder().decode(buf.subarray(0, 64)).trimStart();
  if (buf[0] === 0x50 && buf[1] === 0x4b)
    return "; it is a zip archive, as torch.save writes: import it with `diffit import`";
  if (start.startsWith("{")) return "; it is JSON text (a spec?): pass the checkpoint's .safetensors file";
  if (buf[0] === 0x08) return "; it looks like an ONNX model: use --model for ONNX files";
  const give =
    "give a .safetensors checkpoint (diffit train writes them; diffit import converts PyTorch files)";
  if (buf[0] === 0x89 && buf[1] === 0x50) return `; it is a PNG image: ${give}`;
  return `; ${give}`;
}

const FIX = "re-save the file, or use another checkpoint";

/** The header's length from the first 8 bytes of a file of `fileLength` bytes, checked against both. */
function headerLength(buf: Uint8Array, source: string, fileLength: number): number {
  if (buf.byteLength < 8)
    throw new SafetensorsError(
      `${source}: not a safetensors file: ${buf.byteLength} bytes, too short for the 8-byte header length${foreignFormatHint(buf)}`,
    );
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const length = view.getBigUint64(0, true);
  if (length > BigInt(fileLength - 8) || length > BigInt(LIMITS.safetensorsHeaderBytes)) {
    throw new SafetensorsError(
      `${source}: not a safetensors file: header length ${length} exceeds the file (${fileLength} bytes)${length > BigInt(LIMITS.safetensorsHeaderBytes) ? ` and the ${formatBytes(LIMITS.safetensorsHeaderBytes)} limit` : ""}${foreignFormatHint(buf)}`,
    );
  }
  return Number(length);
}

/** The header JSON object, after checking its length, encoding and syntax. */
function readHeader(
  buf: Uint8Array,
  source: string,
  fileLength = buf.byteLength,
): { header: Record<string, unknown>; dataStart: number } {
  const length = headerLength(buf, source, fileLength);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(8, 8 + length));
  } catch {
    throw new SafetensorsError(`${source}: the header is not UTF-8 text (a corrupt file?); ${FIX}`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(
      `${source}: the header is not JSON (${e instanceof Error ? e.message : e}); ${FIX}`,
    );
  }
  if (typeof header !== "object" || header === null || Array.isArray(header))
    throw new SafetensorsError(
      `${source}: the header is ${describe(header)}, not a JSON object of tensors; ${FIX}`,
    );
  return { header: header as Record<string, unknown>, dataStart: 8 + length };
}

/** "null", "an array", "a number": what a JSON value is, for messages. */
function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return `a ${typeof v}`;
}

function readMetadata(entry: unknown, source: string): Record<string, string> {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry))
    throw new SafetensorsError(
      `${source}: __metadata__ is ${describe(entry)}; safetensors metadata is an object of strings (${FIX})`,
    );
  for (const [k, v] of Object.entries(entry))
    if (typeof v !== "string")
      throw new SafetensorsError(
        `${source}: __metadata__.${k} is ${describe(v)}; safetensors metadata values are strings (${FIX})`,
      );
  return entry as Record<string, string>;
}

/** Elements of a shape, or undefined when it is not a list of sizes that fits `limit` bytes. */
function shapeBytes(shape: unknown, bytesPerElement: number, limit: number): number | undefined {
  if (!Array.isArray(shape)) return undefined;
  let size = bytesPerElement;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) return undefined;
    size *= d;
    if (size > limit) return size; // past the file: reported with the offsets, no overflow
  }
  return size;
}

interface Span {
  name: string;
  begin: number;
  end: number;
}

function readTensor(
  name: string,
  entry: unknown,
  source: string,
  dataLength: number,
): { tensor: Omit<StoredTensor, "bytes">; span: Span } {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry))
    throw new SafetensorsError(
      `${source}: tensor ${name} is ${describe(entry)}, not {dtype, shape, data_offsets}; ${FIX}`,
    );
  const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (!isDType(e.dtype))
    throw new SafetensorsError(
      `${source}: tensor ${name} has dtype ${JSON.stringify(e.dtype)}, which diffit does not read (${Object.keys(BYTES).join(", ")}); ${FIX}`,
    );
  const size = shapeBytes(e.shape, BYTES[e.dtype], Number.MAX_SAFE_INTEGER);
  if (size === undefined)
    throw new SafetensorsError(
      `${source}: tensor ${name} has shape ${JSON.stringify(e.shape)}, not a list of non-negative integers; ${FIX}`,
    );
  const offsets = e.data_offsets;
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
  )
    throw new SafetensorsError(
      `${source}: tensor ${name} has data_offsets ${JSON.stringify(offsets)}, not [begin, end] byte offsets; ${FIX}`,
    );
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataLength)
    throw new SafetensorsError(
      `${source}: tensor ${name} has data_offsets [${begin}, ${end}] that do not fit the file's ${dataLength} data bytes (truncated?); ${FIX}`,
    );
  if (end - begin !== size)
    throw new SafetensorsError(
      `${source}: tensor ${name} is ${e.dtype} [${(e.shape as number[]).join(", ")}] (${size} bytes) but data_offsets [${begin}, ${end}] hold ${end - begin}; ${FIX}`,
    );
  return { tensor: { dtype: e.dtype, shape: e.shape as number[] }, span: { name, begin, end } };
}

/** Two tensors sharing bytes would alias each other's values: refused (the format forbids it). */
function checkOverlaps(spans: Span[], source: string): void {
  const sorted = spans.filter((s) => s.end > s.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1], sorted[i]];
    if (a && b && b.begin < a.end)
      throw new SafetensorsError(
        `${source}: tensors ${a.name} [${a.begin}, ${a.end}] and ${b.name} [${b.begin}, ${b.end}] overlap in the file; ${FIX}`,
      );
  }
}

/**
 * Parses a safetensors buffer, validating everything before any tensor is touched: the header's
 * length, encoding and shape (an object; __metadata__ an object of strings), each tensor's dtype,
 * shape and offsets (inside the file, byte length = dtype × shape) and that no two overlap.
 */
export function decodeSafetensors(buf: Uint8Array, source = "safetensors data"): SafetensorsFile {
  const { header, dataStart } = readHeader(buf, source);
  const { entries, metadata } = checkHeader(header, source, buf.byteLength - dataStart);
  const tensors = new Map<string, StoredTensor>();
  for (const { tensor, span } of entries)
    tensors.set(span.name, { ...tensor, bytes: buf.subarray(dataStart + span.begin, dataStart + span.end) });
  return { tensors, metadata };
}

/** Every tensor entry and the metadata of a header whose data part holds `dataLength` bytes. */
function checkHeader(header: Record<string, unknown>, source: string, dataLength: number) {
  const entries: ReturnType<typeof readTensor>[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") metadata = readMetadata(entry, source);
    else entries.push(readTensor(name, entry, source, dataLength));
  }
  checkOverlaps(
    entries.map((e) => e.span),
    source,
  );
  return { entries, metadata };
}

/** A safetensors file's tensors (without their data) and metadata. */
export interface SafetensorsHeader {
  tensors: Map<string, Omit<StoredTensor, "bytes">>;
  metadata: Record<string, string>;
}

/**
 * The header of a safetensors file, validated as decodeSafetensors validates it (offsets against
 * the file's size), without reading the tensor data: what a resumed run checks of the files an
 * earlier run wrote.
 */
export function readSafetensorsHeader(path: string, what: string): SafetensorsHeader {
  const first = readRegularFileStart(path, 8, what);
  const length = headerLength(first.head, path, first.size);
  const { head, size } = readRegularFileStart(path, 8 + length, what);
  const { header, dataStart } = readHeader(head, path, size);
  const { entries, metadata } = checkHeader(header, path, size - dataStart);
  return { tensors: new Map(entries.map((e) => [e.span.name, e.tensor])), metadata };
}

/** The temporary file writeFileAtomic writes first: `<path>.tmp-<pid>`. */
export const atomicTempPath = (path: string, pid = process.pid): string => `${path}.tmp-${pid}`;

/** A name writeFileAtomic gave a temporary file; the group is the writer's PID. */
export const ATOMIC_TEMP_NAME = /\.tmp-(\d+)$/;

/**
 * Writes a file atomically: a temporary file, fsync, then rename over the target, so a kill or
 * a full disk leaves either the old file or the new one, never a torn one. A failed write
 * removes its temporary file and throws a WriteError naming `path`.
 */
export function writeFileAtomic(path: string, data: Uint8Array): void {
  const tmp = atomicTempPath(path);
  try {
    const fd = openSync(tmp, "w");
    let failure: unknown;
    try {
      let written = 0;
      while (written < data.byteLength) written += writeSync(fd, data, written);
      fsyncSync(fd);
    } catch (e) {
      failure = e;
    }
    // close can report a deferred write error (NFS, quota): it counts as a failed write.
    try {
      closeSync(fd);
    } catch (e) {
      failure ??= e;
    }
    if (failure !== undefined) throw failure;
    renameSync(tmp, path);
  } catch (e) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // Left for the next run on this folder to remove (output-lock.ts); the write error matters.
    }
    throw writeError(path, e);
  }
}

/** Reads a safetensors file; `what` names it in messages ("checkpoint", "training state"). */
export function readSafetensors(path: string, what = "checkpoint"): SafetensorsFile {
  const hint =
    "diffit reads a checkpoint whole and Node.js buffers end at 4 GiB: keep the weights alone (ema.safetensors) or in float16, which diffit widens";
  return decodeSafetensors(readRegularFile(path, { what, hint }), path);
}
