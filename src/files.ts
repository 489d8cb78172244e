// Reading a file whole, safely: only regular files (a FIFO would block forever, /dev/zero and
// other devices would be read until memory runs out, a directory gives a raw EISDIR), and only
// up to a size checked before the first byte is read. Errors are InputErrors that name the file,
// what it was expected to be, and the fix.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats, statSync } from "node:fs";
import { InputError } from "./errors.ts";
import { formatBytes, LIMITS } from "./limits.ts";

export interface ReadOptions {
  /** What the file should be, for messages: "spec", "checkpoint", "ONNX model", "image". */
  what: string;
  /** Largest accepted size in bytes (default LIMITS.fileBytes). */
  maxBytes?: number;
  /** What to do instead, added to the too-large message. */
  hint?: string;
}

function kindOf(s: Stats): string {
  if (s.isDirectory()) return "a directory";
  if (s.isFIFO()) return "a FIFO (named pipe)";
  if (s.isCharacterDevice()) return "a character device";
  if (s.isBlockDevice()) return "a block device";
  if (s.isSocket()) return "a socket";
  return "not a regular file";
}

function notRegular(path: string, s: Stats, what: string): InputError {
  return new InputError(`${path} is ${kindOf(s)}, not a ${what} file; give the path of a ${what} file`);
}

/** Stats a path that must be a readable regular file, or throws an InputError saying why not. */
export function statRegularFile(path: string, what: string): Stats {
  let s: Stats;
  try {
    s = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new InputError(`${path} does not exist; check the ${what} path`);
    if (code === "EACCES") throw new InputError(`${path} cannot be read (permission denied)`);
    throw new InputError(`cannot read ${what} ${path}: ${(e as Error).message}; check the path`);
  }
  if (!s.isFile()) throw notRegular(path, s, what);
  return s;
}

/**
 * The whole content of a regular file no larger than `maxBytes`. Opened non-blocking and checked
 * again after opening, so a path swapped for a FIFO between the two checks cannot block.
 */
export function readRegularFile(path: string, options: ReadOptions): Buffer {
  const max = Math.min(options.maxBytes ?? LIMITS.fileBytes, LIMITS.fileBytes);
  return withRegularFile(path, options.what, (fd, size) => {
    if (size > max) {
      throw new InputError(
        `${path} is ${formatBytes(size)}, more than the ${formatBytes(max)} diffit reads as a ${options.what}${options.hint ? `; ${options.hint}` : ""}`,
      );
    }
    return readAt(fd, size);
  });
}

/**
 * The first `bytes` bytes of a regular file (fewer when it is shorter) and its size: what a
 * reader of a file's header needs, without reading the rest.
 */
export function readRegularFileStart(
  path: string,
  bytes: number,
  what: string,
): { head: Buffer; size: number } {
  return withRegularFile(path, what, (fd, size) => ({ head: readAt(fd, Math.min(bytes, size)), size }));
}

/** Runs `f` on a regular file opened non-blocking and checked again after opening. */
function withRegularFile<T>(path: string, what: string, f: (fd: number, size: number) => T): T {
  statRegularFile(path, what);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new InputError(`cannot open ${what} ${path}: ${(e as Error).message}`);
  }
  try {
    const s = fstatSync(fd);
    if (!s.isFile()) throw notRegular(path, s, what);
    return f(fd, s.size);
  } finally {
    closeSync(fd);
  }
}

/** The first `length` bytes of an open file (fewer if it shrank while being read). */
function readAt(fd: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let off = 0;
  while (off < length) {
    // One read takes at most 2 GiB - 1 (a larger length overflows): read in 1 GiB pieces.
    const n = readSync(fd, buf, off, Math.min(length - off, 2 ** 30), off);
    if (n === 0) break; // the file shrank while being read
    off += n;
  }
  return off === length ? buf : buf.subarray(0, off);
}

export function readRegularTextFile(path: string, options: ReadOptions): string {
  return readRegularFile(path, options).toString("utf8");
}
