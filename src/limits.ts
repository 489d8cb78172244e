// Every bound diffit puts on its inputs, in one place, so a small or hostile file cannot turn
// into unbounded work or memory, and so the README can list them. Each limit is far above what
// a real spec, checkpoint or dataset needs; crossing one is an error that names the file and
// the limit, never an out-of-memory abort or a hang.

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export const LIMITS = {
  // Spec front end.
  /** Bytes of one spec file (the paper's largest spec is ~2 KB). */
  specBytes: 1 * MiB,

  // Files read whole.
  /** Bytes of a safetensors header (the format's own reference reader refuses larger ones). */
  safetensorsHeaderBytes: 100 * MiB,
  /** Bytes of any file read into memory at once (Node's largest Buffer is 4 GiB). */
  fileBytes: 4 * GiB - 1,
} as const;

export type LimitName = keyof typeof LIMITS;

/** "1 MiB", "4 GiB": a byte count as a person reads it. */
export function formatBytes(n: number): string {
  if (n >= GiB) return `${+(n / GiB).toFixed(1)} GiB`;
  if (n >= MiB) return `${+(n / MiB).toFixed(1)} MiB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}
