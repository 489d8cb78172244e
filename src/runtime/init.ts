// Parameter initialisation from the IR's init rules, seeded per parameter name so that adding
// a layer never changes the values of the others. Produces plain Float32Arrays: every engine
// (tfjs, ONNX, generated code) starts from identical weights.
import type { InitRule, ParamDef } from "../compiler/ir/types.ts";
import { Rng } from "./random.ts";

const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * The DiT 2-D sin-cos table for a grid×grid token grid of width `dim`, as [grid², dim]:
 * the first half of the channels encodes the column index, the second half the row index,
 * each half laid out [sin | cos] with frequencies 1/10000^(k/(dim/4)) (DIFFIT.md §8).
 */
export function sincos2d(grid: number, dim: number): Float32Array {
  const out = new Float32Array(grid * grid * dim);
  const quarter = dim / 4;
  for (let row = 0; row < grid; row++) {
    for (let col = 0; col < grid; col++) {
      const base = (row * grid + col) * dim;
      for (let k = 0; k < quarter; k++) {
        const omega = 1 / 10000 ** (k / quarter);
        out[base + k] = Math.sin(col * omega);
        out[base + quarter + k] = Math.cos(col * omega);
        out[base + 2 * quarter + k] = Math.sin(row * omega);
        out[base + 3 * quarter + k] = Math.cos(row * omega);
      }
    }
  }
  return out;
}

export function initialValues(p: Pick<ParamDef, "name" | "shape" | "init">, seed: number): Float32Array {
  const n = product(p.shape);
  const rule: InitRule = p.init;
  const rng = new Rng(seed, p.name);
  const out = new Float32Array(n);
  switch (rule.kind) {
    case "zeros":
      return out;
    case "ones":
      return out.fill(1);
    case "xavier-uniform": {
      const limit = Math.sqrt(6 / (rule.fanIn + rule.fanOut));
      for (let i = 0; i < n; i++) out[i] = (2 * rng.uniform() - 1) * limit;
      return out;
    }
    case "normal":
    case "fourier": {
      const std = rule.kind === "normal" ? rule.std : rule.scale;
      for (let i = 0; i < n; i++) out[i] = rng.normal() * std;
      return out;
    }
    case "trunc-normal":
      // Redraw beyond two standard deviations (timm's trunc_normal_ with a = −2σ, b = 2σ).
      for (let i = 0; i < n; i++) {
        let v = rng.normal();
        while (Math.abs(v) > 2) v = rng.normal();
        out[i] = v * rule.std;
      }
      return out;
    case "sincos-2d":
      return sincos2d(rule.grid, n / (rule.grid * rule.grid));
  }
}

/**
 * Initial values (seed 0) plus N(0, std²) noise on the trainable parameters, drawn from `rng` in
 * parameter order: for checks and benches that compare engines, where a zero-initialised output
 * layer would make the comparison vacuous.
 */
export function perturbedValues(
  params: readonly ParamDef[],
  std: number,
  rng: Rng,
): Map<string, Float32Array> {
  return new Map(
    params.map((p) => {
      const v = initialValues(p, 0);
      if (p.trainable) for (let i = 0; i < v.length; i++) v[i] = (v[i] ?? 0) + std * rng.normal();
      return [p.name, v];
    }),
  );
}
