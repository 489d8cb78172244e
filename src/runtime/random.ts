// A small seeded generator shared by every engine (initialisation, noise, data order), so that
// the same seed gives the same numbers in tfjs, in ONNX Runtime and in generated code.
// xoshiro128** (Blackman & Vigna) seeded through splitmix32 from a string key and a seed.

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** FNV-1a hash of a string, to derive independent streams per parameter name. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class Rng {
  private readonly s = new Uint32Array(4);
  private spare: number | undefined;

  /** A stream identified by `seed` and an optional key (e.g. a parameter name). */
  constructor(seed: number, key = "") {
    const mix = splitmix32((seed >>> 0) ^ hashString(key));
    for (let i = 0; i < 4; i++) this.s[i] = mix();
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** Uniform 32-bit integer. */
  nextUint32(): number {
    const s = this.s;
    const s0 = s[0] ?? 0;
    const s1 = s[1] ?? 0;
    const result = Math.imul(((Math.imul(s1, 5) << 7) | (Math.imul(s1, 5) >>> 25)) >>> 0, 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    s[2] = (s[2] ?? 0) ^ s0;
    s[3] = (s[3] ?? 0) ^ s1;
    s[1] = s1 ^ (s[2] ?? 0);
    s[0] = s0 ^ (s[3] ?? 0);
    s[2] = (s[2] ?? 0) ^ t;
    s[3] = (((s[3] ?? 0) << 11) | ((s[3] ?? 0) >>> 21)) >>> 0;
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Standard normal (Box-Muller, both values used). */
  normal(): number {
    if (this.spare !== undefined) {
      const v = this.spare;
      this.spare = undefined;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Fisher-Yates permutation of 0..n-1. */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i] ?? 0;
      p[i] = p[j] ?? 0;
      p[j] = t;
    }
    return p;
  }

  /** The generator state, for checkpoints: four words, a flag and the cached normal (JSON-safe). */
  state(): number[] {
    return [...this.s, this.spare === undefined ? 0 : 1, this.spare ?? 0];
  }

  restore(state: readonly number[]): void {
    if (state.length !== 6 || state.some((v) => typeof v !== "number" || !Number.isFinite(v))) {
      throw new Error(`invalid generator state ${JSON.stringify(state)}`);
    }
    for (let i = 0; i < 4; i++) this.s[i] = state[i] ?? 0;
    this.spare = state[4] === 1 ? state[5] : undefined;
  }
}
