// A failed write as the user should read it: which file, and why in words ("no space left on
// device (ENOSPC)"). Node's own message for a write on an open file names no file ("ENOSPC: no
// space left on device, write"), so every writer that can fail on a full or read-only disk wraps
// its writes here.
import { InputError } from "../errors.ts";

const REASONS: Record<string, string> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EIO: "input/output error",
  EFBIG: "file too large",
  ENOENT: "its folder does not exist",
  ENOTDIR: "a part of its path is not a folder",
  EISDIR: "it is a folder",
};

/** A write that failed; an InputError (exit 1): the fix is in the environment, not the code. */
export class WriteError extends InputError {
  override name = "WriteError";
  constructor(
    readonly path: string,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** `e` (a failed fs call while writing `path`) as a WriteError naming the file. */
export function writeError(path: string, e: unknown): WriteError {
  if (e instanceof WriteError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const reason =
    code && REASONS[code] ? `${REASONS[code]} (${code})` : e instanceof Error ? e.message : String(e);
  return new WriteError(path, code, `cannot write ${path}: ${reason}`);
}

/** Runs a write to `path`, turning a failure into a WriteError that names the file. */
export function writingTo<T>(path: string, write: () => T): T {
  try {
    return write();
  } catch (e) {
    throw writeError(path, e);
  }
}
