// The IDX format of MNIST and Fashion-MNIST: big-endian magic (0x00 0x00 dtype rank), one
// uint32 per dimension, then the data. Gzipped files are detected by their magic bytes.
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { InputError } from "../../errors.ts";

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

export function parseIdx(raw: Uint8Array, file: string): IdxArray {
  let buf = raw;
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new InputError(`${file}: corrupt gzip data (${e instanceof Error ? e.message : e})`);
    }
  }
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0)
    throw new InputError(`${file}: not an IDX file (bad magic number)`);
  if (buf[2] !== 0x08)
    throw new InputError(
      `${file}: IDX dtype 0x${(buf[2] ?? 0).toString(16)} is not supported (only unsigned bytes)`,
    );
  const rank = buf[3] ?? 0;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 4 + 4 * rank) throw new InputError(`${file}: truncated IDX header`);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const size = shape.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * rank;
  if (buf.length - start < size) {
    throw new InputError(
      `${file}: truncated IDX data (${buf.length - start} bytes for shape [${shape.join(", ")}])`,
    );
  }
  return { shape, data: buf.subarray(start, start + size) };
}

export function readIdx(file: string): IdxArray {
  let raw: Uint8Array;
  try {
    raw = readFileSync(file);
  } catch (e) {
    throw new InputError(`cannot read ${file}: ${e instanceof Error ? e.message : e}`);
  }
  return parseIdx(raw, file);
}
