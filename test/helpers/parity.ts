// Shared by the tests that hold the ONNX training graph against tfjs (test/autodiff.test.ts,
// test/onnx-training.test.ts): specs built in the test, and the per-tensor error measure.
export { entryOf } from "./entry.ts";

/** The smallest latent DiffiT (8×8×4 latents, one block, 3 classes); `extra` adds or overrides keys. */
export const tinyLatent = (name: string, extra: Record<string, unknown>) => ({
  family: "latent",
  name,
  input: { size: 8, channels: 4 },
  patchSize: 2,
  hidden: 16,
  depth: 1,
  heads: 2,
  mlpRatio: 2,
  time: { sinusoidDim: 8 },
  conditioning: { classes: 3 },
  ...extra,
});

/** max |a − b| / max |b| over one tensor (the absolute difference where b is all zero). */
export function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] ?? Number.NaN) - (b[i] ?? 0)));
    scale = Math.max(scale, Math.abs(b[i] ?? 0));
  }
  return scale > 0 ? diff / scale : diff;
}
