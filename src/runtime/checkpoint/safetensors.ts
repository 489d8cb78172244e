// The safetensors format: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__: {string: string}}, then the
// raw little-endian tensor bytes. Parsing validates every offset before touching data.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
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

export class SafetensorsError extends Error {}

const isDType = (v: unknown): v is DType => typeof v === "string" && v in BYTES;

export function float32Tensor(values: Float32Array, shape: readonly number[]): StoredTensor {
  return {
    dtype: "F32",
    shape: [...shape],
    bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  };
}

/** The values of an F32 tensor (copied, so the result is aligned and independent of the file). */
export function toFloat32(t: StoredTensor): Float32Array {
  if (t.dtype !== "F32") throw new SafetensorsError(`expected F32, got ${t.dtype}`);
  const out = new Float32Array(t.bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(t.bytes);
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
  return "";
}

export function decodeSafetensors(buf: Uint8Array, source = "safetensors data"): SafetensorsFile {
  if (buf.byteLength < 8) throw new SafetensorsError(`${source}: too short to be a safetensors file`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > buf.byteLength - 8 || headerLength > 100_000_000) {
    throw new SafetensorsError(
      `${source}: not a safetensors file: header length ${headerLength} exceeds the file (${buf.byteLength} bytes)${foreignFormatHint(buf)}`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + headerLength)));
  } catch (e) {
    throw new SafetensorsError(`${source}: header is not JSON (${e instanceof Error ? e.message : e})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new SafetensorsError(`${source}: header is not an object`);
  }
  const dataStart = 8 + headerLength;
  const dataLength = buf.byteLength - dataStart;
  const tensors = new Map<string, StoredTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = Object.fromEntries(
        Object.entries(entry as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
      );
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const shape = e.shape;
    const offsets = e.data_offsets;
    if (!isDType(e.dtype))
      throw new SafetensorsError(`${source}: ${name} has unsupported dtype ${String(e.dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new SafetensorsError(`${source}: ${name} has an invalid shape`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2)
      throw new SafetensorsError(`${source}: ${name} has invalid data_offsets`);
    const [begin, end] = offsets as [number, number];
    const size = (shape as number[]).reduce((a, b) => a * b, 1) * BYTES[e.dtype];
    if (
      !(
        Number.isInteger(begin) &&
        Number.isInteger(end) &&
        begin >= 0 &&
        end <= dataLength &&
        end - begin === size
      )
    ) {
      throw new SafetensorsError(
        `${source}: ${name} has data_offsets [${begin}, ${end}] that do not fit its shape or the file`,
      );
    }
    tensors.set(name, {
      dtype: e.dtype,
      shape: shape as number[],
      bytes: buf.subarray(dataStart + begin, dataStart + end),
    });
  }
  return { tensors, metadata };
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

export function readSafetensors(path: string): SafetensorsFile {
  return decodeSafetensors(readFileSync(path), path);
}
