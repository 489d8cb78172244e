// Which weights a file holds, as a short digest: an export records it, so `verify` can tell a
// checkpoint other than the one exported (a likely mix-up) from a real mismatch of the two runtimes.
import { createHash } from "node:crypto";

/** sha256 (first 16 hex digits) of the parameters' float32 values, in the graph's order. */
export function weightsDigest(
  params: readonly { name: string }[],
  values: (name: string) => Float32Array,
): string {
  const hash = createHash("sha256");
  for (const p of params) {
    const v = values(p.name);
    hash.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  }
  return hash.digest("hex").slice(0, 16);
}
