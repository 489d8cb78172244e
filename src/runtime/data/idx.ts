// The IDX format of MNIST and Fashion-MNIST: big-endian magic (0x00 0x00 dtype rank), one
// uint32 per dimension, then the data. Gzipped files are detected by their magic bytes and
// inflated only up to the size their IDX header declares (and LIMITS.idxBytes), so a small gzip
// bomb is refused after its header, not after filling memory.
import { constants, gunzipSync } from "node:zlib";
import { InputError } from "../../errors.ts";
import { readRegularFile } from "../../files.ts";
import { formatBytes, LIMITS } from "../../limits.ts";

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

const FIX = "download the file again (MNIST / Fashion-MNIST IDX, gzipped or not)";

const isGzip = (buf: Uint8Array) => buf[0] === 0x1f && buf[1] === 0x8b;

/** The header fields of IDX bytes, or what is wrong with them; `undefined` when too short yet. */
function header(buf: Uint8Array, file: string): { shape: number[]; start: number; size: number } | undefined {
  if (buf.length >= 2 && (buf[0] !== 0 || buf[1] !== 0))
    throw new InputError(`${file}: not an IDX file (bad magic number); ${FIX}`);
  if (buf.length < 4) return undefined;
  if (buf[2] !== 0x08)
    throw new InputError(
      `${file}: IDX dtype 0x${(buf[2] ?? 0).toString(16)} is not supported (only unsigned bytes, as MNIST ships); ${FIX}`,
    );
  const rank = buf[3] ?? 0;
  const start = 4 + 4 * rank;
  if (buf.length < start) return undefined;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const size = shape.reduce((a, b) => a * b, 1);
  if (size > LIMITS.idxBytes)
    throw new InputError(
      `${file}: the IDX header declares shape [${shape.join(", ")}], ${formatBytes(size)} of data, more than the ${formatBytes(LIMITS.idxBytes)} diffit reads; use a subset of the data set, or ${FIX}`,
    );
  return { shape, start, size };
}

/** Inflates a gzipped IDX file: first just enough for its header, then up to the declared size. */
function gunzipIdx(raw: Uint8Array, file: string): Uint8Array {
  const inflate = (input: Uint8Array, max?: number) => {
    try {
      return gunzipSync(input, {
        finishFlush: constants.Z_SYNC_FLUSH,
        ...(max !== undefined ? { maxOutputLength: max } : {}),
      });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE")
        throw new InputError(
          `${file}: the gzip data unpacks to more than the ${max} bytes its IDX header declares (a corrupt or hostile file); ${FIX}`,
        );
      throw new InputError(`${file}: corrupt gzip data (${e instanceof Error ? e.message : e}); ${FIX}`);
    }
  };
  // A gzip header with a long file name could hide the IDX header past the first bytes; each
  // probe inflates at most ~1000× its input.
  let head: ReturnType<typeof header>;
  for (const probe of [1024, 65_536]) {
    head = header(inflate(raw.subarray(0, probe)), file);
    if (head || probe >= raw.length) break;
  }
  if (!head) throw new InputError(`${file}: truncated IDX header; ${FIX}`);
  const out = inflate(raw, head.start + head.size);
  // Z_SYNC_FLUSH returns what a truncated stream holds; the length check below names it.
  return out;
}

export function parseIdx(raw: Uint8Array, file: string): IdxArray {
  const buf = isGzip(raw) ? gunzipIdx(raw, file) : raw;
  const head = header(buf, file);
  if (!head)
    throw new InputError(
      buf.length < 4
        ? `${file}: not an IDX file (too short); ${FIX}`
        : `${file}: truncated IDX header; ${FIX}`,
    );
  const { shape, start, size } = head;
  if (buf.length - start < size) {
    throw new InputError(
      `${file}: truncated IDX data (${buf.length - start} bytes for shape [${shape.join(", ")}]); ${FIX}`,
    );
  }
  return { shape, data: buf.subarray(start, start + size) };
}

export function readIdx(file: string): IdxArray {
  // A gzip file is at most its data (stored blocks add ~0.01 %), so the same bound applies.
  const raw = readRegularFile(file, {
    what: "gzipped or plain IDX",
    maxBytes: LIMITS.idxBytes + 1024 * 1024,
    hint: "use a subset of the data set (full MNIST is 47 MB)",
  });
  return parseIdx(raw, file);
}
