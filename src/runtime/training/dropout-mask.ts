// tf.dropout's scaled keep-mask, drawn without tfjs: the same seeded alea stream that tfjs's
// randomUniform draws from, and the same float32 arithmetic (floor(u + keep) / keep), so the ONNX
// engine drops exactly the units the tfjs trainer drops. seedrandom seeds the generator; its
// recurrence runs here on local variables, because a call per unit made drawing the masks cost
// ~19 ns per unit, 0.5 s of each diffit-cifar10 step.
import seedrandom from "seedrandom";

/** alea's state as seedrandom reports it. */
interface AleaState {
  c: number;
  s0: number;
  s1: number;
  s2: number;
}

/**
 * The mask tf.dropout(tf.ones([size]), rate, undefined, seed) multiplies by, as float32, written
 * into `out` when given (a buffer reused from step to step: fresh memory costs a page fault per
 * 4 KiB, which on the bench VM took longer than the draws).
 */
export function dropoutMask(
  size: number,
  rate: number,
  seed: number,
  out: Float32Array = new Float32Array(size),
): Float32Array {
  if (out.length !== size) throw new Error(`a dropout mask of ${size} units got a buffer of ${out.length}`);
  const keep = Math.fround(1 - rate);
  // A float32 quotient: the float64 one rounds to the same value.
  const scale = Math.fround(1 / keep);
  let { c, s0, s1, s2 } = seedrandom.alea(String(seed), { state: true }).state() as AleaState;
  for (let i = 0; i < size; i++) {
    // Baagøe's alea step: a multiply-with-carry on 32-bit fractions.
    const t = 2091639 * s0 + c * 2.3283064365386963e-10;
    s0 = s1;
    s1 = s2;
    c = t | 0;
    s2 = t - c;
    // floor(u + keep) is 0 or 1; multiplying rather than branching on it runs ~30 % faster
    // (the branch is taken at random).
    out[i] = Math.floor(Math.fround(Math.fround(s2) + keep)) * scale;
  }
  return out;
}
