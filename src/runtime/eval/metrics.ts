// Sample-quality metrics on classifier features, in float64 throughout:
//  • FID (Heusel et al. 2017): the Fréchet distance between Gaussians fitted to two feature sets,
//      ‖μa − μb‖² + Tr(Σa + Σb − 2(ΣaΣb)^½).
//    Tr((ΣaΣb)^½) is computed stably as Σ √λi over the eigenvalues of the symmetric PSD matrix
//    √Σa Σb √Σa (similar to ΣaΣb), from two symmetric eigen-decompositions (Householder
//    tridiagonalisation + implicit QL, as in EISPACK tred2/tql2); round-off negatives clamp to 0.
//  • KID (Bińkowski et al. 2018, as in clean-fid / torch-fidelity): the unbiased MMD² with the
//    cubic polynomial kernel k(x, y) = (xᵀy/d + 1)³, averaged over random subsets.
//  • Class-conditional accuracy: how often the classifier's label equals the intended one.
import { InputError } from "../../errors.ts";
import { Rng } from "../random.ts";

export type Features = ArrayLike<number>;

function rows(feats: Features, dim: number, what: string): number {
  if (!(Number.isInteger(dim) && dim > 0))
    throw new InputError(`feature dimension must be positive, got ${dim}`);
  if (feats.length % dim !== 0)
    throw new InputError(`${what}: ${feats.length} values are not a whole number of ${dim}-d features`);
  return feats.length / dim;
}

export interface GaussianStats {
  dim: number;
  count: number;
  mean: Float64Array;
  /** [dim, dim] row-major, unbiased (divides by count − 1), as numpy.cov. */
  cov: Float64Array;
}

/** Mean and covariance of `count` row-major `dim`-dimensional features. */
export function gaussianStats(feats: Features, dim: number): GaussianStats {
  const count = rows(feats, dim, "features");
  if (count < 2) throw new InputError(`a covariance needs at least 2 features, got ${count}`);
  const mean = new Float64Array(dim);
  for (let r = 0; r < count; r++)
    for (let i = 0; i < dim; i++) mean[i] = (mean[i] ?? 0) + (feats[r * dim + i] ?? 0);
  for (let i = 0; i < dim; i++) mean[i] = (mean[i] ?? 0) / count;
  const cov = new Float64Array(dim * dim);
  const x = new Float64Array(dim);
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < dim; i++) x[i] = (feats[r * dim + i] ?? 0) - (mean[i] ?? 0);
    for (let i = 0; i < dim; i++) {
      const xi = x[i] ?? 0;
      const row = i * dim;
      for (let j = i; j < dim; j++) cov[row + j] = (cov[row + j] ?? 0) + xi * (x[j] ?? 0);
    }
  }
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      const v = (cov[i * dim + j] ?? 0) / (count - 1);
      cov[i * dim + j] = v;
      cov[j * dim + i] = v;
    }
  }
  return { dim, count, mean, cov };
}

export interface Eigen {
  /** Eigenvalues, ascending. */
  values: Float64Array;
  /** [n, n] row-major; column j is the unit eigenvector of values[j]: A = V diag(λ) Vᵀ. */
  vectors: Float64Array;
}

/**
 * Eigen-decomposition of a symmetric [n, n] row-major matrix (only its symmetric part is
 * used): Householder reduction to tridiagonal form, then the implicit QL algorithm
 * (EISPACK tred2/tql2, as in JAMA). Accurate to a few ulps of the largest |λ|.
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): Eigen {
  if (matrix.length !== n * n)
    throw new InputError(`expected a ${n}×${n} matrix, got ${matrix.length} values`);
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) V[i * n + j] = 0.5 * ((matrix[i * n + j] ?? 0) + (matrix[j * n + i] ?? 0));
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return { values: d, vectors: V };
  tred2(n, V, d, e);
  tql2(n, V, d, e);
  // Sort ascending, permuting eigenvector columns with their values.
  const order = [...d.keys()].sort((a, b) => (d[a] ?? 0) - (d[b] ?? 0));
  const values = Float64Array.from(order, (k) => d[k] ?? 0);
  const vectors = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) vectors[i * n + j] = V[i * n + (order[j] ?? 0)] ?? 0;
  return { values, vectors };
}

/** Householder tridiagonalisation: on return V holds the orthogonal transform, d the diagonal, e the sub-diagonal. */
function tred2(n: number, V: Float64Array, d: Float64Array, e: Float64Array): void {
  const at = (i: number, j: number) => V[i * n + j] ?? 0;
  const set = (i: number, j: number, v: number) => {
    V[i * n + j] = v;
  };
  for (let j = 0; j < n; j++) d[j] = at(n - 1, j);
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k] ?? 0);
    if (scale === 0) {
      e[i] = d[i - 1] ?? 0;
      for (let j = 0; j < i; j++) {
        d[j] = at(i - 1, j);
        set(i, j, 0);
        set(j, i, 0);
      }
    } else {
      for (let k = 0; k < i; k++) {
        const dk = (d[k] ?? 0) / scale;
        d[k] = dk;
        h += dk * dk;
      }
      let f = d[i - 1] ?? 0;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j] ?? 0;
        set(j, i, f);
        g = (e[j] ?? 0) + at(j, j) * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += at(k, j) * (d[k] ?? 0);
          e[k] = (e[k] ?? 0) + at(k, j) * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        const ej = (e[j] ?? 0) / h;
        e[j] = ej;
        f += ej * (d[j] ?? 0);
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] = (e[j] ?? 0) - hh * (d[j] ?? 0);
      for (let j = 0; j < i; j++) {
        f = d[j] ?? 0;
        g = e[j] ?? 0;
        for (let k = j; k <= i - 1; k++) set(k, j, at(k, j) - (f * (e[k] ?? 0) + g * (d[k] ?? 0)));
        d[j] = at(i - 1, j);
        set(i, j, 0);
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  for (let i = 0; i < n - 1; i++) {
    set(n - 1, i, at(i, i));
    set(i, i, 1);
    const h = d[i + 1] ?? 0;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = at(k, i + 1) / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += at(k, i + 1) * at(k, j);
        for (let k = 0; k <= i; k++) set(k, j, at(k, j) - g * (d[k] ?? 0));
      }
    }
    for (let k = 0; k <= i; k++) set(k, i + 1, 0);
  }
  for (let j = 0; j < n; j++) {
    d[j] = at(n - 1, j);
    set(n - 1, j, 0);
  }
  set(n - 1, n - 1, 1);
  e[0] = 0;
}

/** Implicit QL iterations on the tridiagonal (d, e), accumulating rotations into V. */
function tql2(n: number, V: Float64Array, d: Float64Array, e: Float64Array): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i] ?? 0;
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l] ?? 0) + Math.abs(e[l] ?? 0));
    let m = l;
    while (m < n - 1 && Math.abs(e[m] ?? 0) > eps * tst1) m++;
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 100) throw new Error("symmetric eigen-decomposition did not converge");
        let g = d[l] ?? 0;
        let p = ((d[l + 1] ?? 0) - g) / (2 * (e[l] ?? 0));
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = (e[l] ?? 0) / (p + r);
        d[l + 1] = (e[l] ?? 0) * (p + r);
        const dl1 = d[l + 1] ?? 0;
        let h = g - (d[l] ?? 0);
        for (let i = l + 2; i < n; i++) d[i] = (d[i] ?? 0) - h;
        f += h;
        p = d[m] ?? 0;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1] ?? 0;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          const ei = e[i] ?? 0;
          g = c * ei;
          h = c * p;
          r = Math.hypot(p, ei);
          e[i + 1] = s * r;
          s = ei / r;
          c = p / r;
          const di = d[i] ?? 0;
          p = c * di - s * g;
          d[i + 1] = h + s * (c * g + s * di);
          for (let k = 0; k < n; k++) {
            const a = V[k * n + i + 1] ?? 0;
            const b = V[k * n + i] ?? 0;
            V[k * n + i + 1] = s * b + c * a;
            V[k * n + i] = c * b - s * a;
          }
        }
        p = (-s * s2 * c3 * el1 * (e[l] ?? 0)) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l] ?? 0) > eps * tst1);
    }
    d[l] = (d[l] ?? 0) + f;
    e[l] = 0;
  }
}

/** C = A·B for [n, n] row-major matrices. */
function matMul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k] ?? 0;
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j] = (c[i * n + j] ?? 0) + aik * (b[k * n + j] ?? 0);
    }
  }
  return c;
}

/** V diag(f(λ)) Vᵀ. */
function spectralMap(eig: Eigen, n: number, f: (v: number) => number): Float64Array {
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const w = f(eig.values[k] ?? 0);
    if (w === 0) continue;
    for (let i = 0; i < n; i++) {
      const vik = (eig.vectors[i * n + k] ?? 0) * w;
      for (let j = 0; j < n; j++)
        out[i * n + j] = (out[i * n + j] ?? 0) + vik * (eig.vectors[j * n + k] ?? 0);
    }
  }
  return out;
}

/** The PSD square root of a symmetric PSD matrix (negative round-off eigenvalues clamp to 0). */
export function sqrtPsd(matrix: ArrayLike<number>, n: number): Float64Array {
  return spectralMap(symmetricEigen(matrix, n), n, (v) => Math.sqrt(Math.max(0, v)));
}

/** Tr((Σa Σb)^½) = Σ √λi(√Σa Σb √Σa), for symmetric PSD Σa, Σb. */
export function traceSqrtProduct(covA: ArrayLike<number>, covB: ArrayLike<number>, n: number): number {
  const sa = sqrtPsd(covA, n);
  const m = matMul(matMul(sa, Float64Array.from(covB), n), sa, n);
  const { values } = symmetricEigen(m, n);
  let sum = 0;
  for (const v of values) sum += Math.sqrt(Math.max(0, v));
  return sum;
}

/** The Fréchet distance between N(μa, Σa) and N(μb, Σb) (≥ 0; round-off below 0 clamps). */
export function frechetDistance(
  a: { mean: ArrayLike<number>; cov: ArrayLike<number> },
  b: { mean: ArrayLike<number>; cov: ArrayLike<number> },
  dim: number,
): number {
  if (
    a.mean.length !== dim ||
    b.mean.length !== dim ||
    a.cov.length !== dim * dim ||
    b.cov.length !== dim * dim
  )
    throw new InputError(`Fréchet distance: statistics are not ${dim}-dimensional`);
  let dist = 0;
  for (let i = 0; i < dim; i++) dist += ((a.mean[i] ?? 0) - (b.mean[i] ?? 0)) ** 2;
  let trace = 0;
  for (let i = 0; i < dim; i++) trace += (a.cov[i * dim + i] ?? 0) + (b.cov[i * dim + i] ?? 0);
  return Math.max(0, dist + trace - 2 * traceSqrtProduct(a.cov, b.cov, dim));
}

/** FID between two row-major feature sets of dimension `dim`. */
export function fid(featsA: Features, featsB: Features, dim: number): number {
  return frechetDistance(gaussianStats(featsA, dim), gaussianStats(featsB, dim), dim);
}

export interface KidOptions {
  /** Number of random subsets (clean-fid: 100). */
  subsets: number;
  /** Size of each subset, capped at the smaller set (clean-fid: 1000). */
  subsetSize: number;
  seed: number;
}

export const DEFAULT_KID_OPTIONS: Readonly<KidOptions> = { subsets: 100, subsetSize: 1000, seed: 0 };

export interface KidResult {
  /** Mean of the per-subset unbiased MMD² estimates (the KID). */
  mean: number;
  /** Standard deviation of the per-subset estimates (population, as torch-fidelity). */
  std: number;
  /** The per-subset estimates. */
  values: Float64Array;
  subsetSize: number;
}

/** `m` distinct indices from 0..n−1 (partial Fisher-Yates), gathered as a float64 [m, dim] block. */
function sampleRows(feats: Features, n: number, m: number, dim: number, rng: Rng): Float64Array {
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const out = new Float64Array(m * dim);
  for (let i = 0; i < m; i++) {
    const j = i + rng.int(n - i);
    const t = idx[i] ?? 0;
    idx[i] = idx[j] ?? 0;
    idx[j] = t;
    const r = idx[i] ?? 0;
    for (let k = 0; k < dim; k++) out[i * dim + k] = feats[r * dim + k] ?? 0;
  }
  return out;
}

/** k(xᵢ, yⱼ) = (xᵢᵀyⱼ/d + 1)³ for rows i of x and j of y. */
function kernel(x: Float64Array, i: number, y: Float64Array, j: number, dim: number): number {
  const xo = i * dim;
  const yo = j * dim;
  let dot = 0;
  for (let k = 0; k < dim; k++) dot += (x[xo + k] as number) * (y[yo + k] as number);
  const t = dot / dim + 1;
  return t * t * t;
}

/** Σ k(x_r, y_j) for the four rows r = i..i+3 and j in [j0, j1): each y row is loaded once. */
function kernelBlock4(
  x: Float64Array,
  i: number,
  y: Float64Array,
  j0: number,
  j1: number,
  dim: number,
): number {
  const o0 = i * dim;
  const o1 = o0 + dim;
  const o2 = o1 + dim;
  const o3 = o2 + dim;
  let sum = 0;
  for (let j = j0; j < j1; j++) {
    const yo = j * dim;
    let d0 = 0;
    let d1 = 0;
    let d2 = 0;
    let d3 = 0;
    for (let k = 0; k < dim; k++) {
      const yk = y[yo + k] as number;
      d0 += (x[o0 + k] as number) * yk;
      d1 += (x[o1 + k] as number) * yk;
      d2 += (x[o2 + k] as number) * yk;
      d3 += (x[o3 + k] as number) * yk;
    }
    const t0 = d0 / dim + 1;
    const t1 = d1 / dim + 1;
    const t2 = d2 / dim + 1;
    const t3 = d3 / dim + 1;
    sum += t0 * t0 * t0 + t1 * t1 * t1 + t2 * t2 * t2 + t3 * t3 * t3;
  }
  return sum;
}

/** Σ_{i,j} k(xᵢ, yⱼ) over all m×m pairs. */
function crossKernelSum(x: Float64Array, y: Float64Array, m: number, dim: number): number {
  let sum = 0;
  let i = 0;
  for (; i + 4 <= m; i += 4) sum += kernelBlock4(x, i, y, 0, m, dim);
  for (; i < m; i++) for (let j = 0; j < m; j++) sum += kernel(x, i, y, j, dim);
  return sum;
}

/** Σ_{i<j} k(xᵢ, xⱼ): half the off-diagonal sum of the m×m kernel matrix. */
function selfKernelSum(x: Float64Array, m: number, dim: number): number {
  let sum = 0;
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    for (let r = 0; r < 3; r++) for (let s = r + 1; s < 4; s++) sum += kernel(x, i + r, x, i + s, dim);
    sum += kernelBlock4(x, i, x, i + 4, m, dim);
  }
  for (; i < m; i++) for (let j = i + 1; j < m; j++) sum += kernel(x, i, x, j, dim);
  return sum;
}

/**
 * KID: for each subset, m rows are drawn without replacement from each set and the unbiased
 * MMD² = Σ_{i≠j} k(xi,xj)/(m(m−1)) + Σ_{i≠j} k(yi,yj)/(m(m−1)) − 2 Σ_{i,j} k(xi,yj)/m²
 * is computed with k(x, y) = (xᵀy/d + 1)³. Seeded: the same inputs and seed give the same result.
 * The kernel assumes features of roughly unit scale (xᵀy/d = O(1)); the classifier's features
 * are normalised so. Cost: 2·m²·d multiply-adds per subset (~0.3 s for m = 1000, d = 128).
 */
export function kid(
  featsA: Features,
  featsB: Features,
  dim: number,
  opts: Partial<KidOptions> = {},
): KidResult {
  const o = { ...DEFAULT_KID_OPTIONS, ...opts };
  const nA = rows(featsA, dim, "KID features A");
  const nB = rows(featsB, dim, "KID features B");
  const m = Math.min(o.subsetSize, nA, nB);
  if (m < 2) throw new InputError(`KID needs at least 2 features in each set, got ${nA} and ${nB}`);
  if (!(Number.isInteger(o.subsets) && o.subsets >= 1)) throw new InputError("KID needs at least one subset");
  const rng = new Rng(o.seed, "kid");
  const values = new Float64Array(o.subsets);
  for (let s = 0; s < o.subsets; s++) {
    const x = sampleRows(featsA, nA, m, dim, rng);
    const y = sampleRows(featsB, nB, m, dim, rng);
    const kxx = 2 * selfKernelSum(x, m, dim);
    const kyy = 2 * selfKernelSum(y, m, dim);
    const kxy = crossKernelSum(x, y, m, dim);
    values[s] = (kxx + kyy) / (m * (m - 1)) - (2 * kxy) / (m * m);
  }
  let mean = 0;
  for (const v of values) mean += v;
  mean /= values.length;
  let variance = 0;
  for (const v of values) variance += (v - mean) ** 2;
  variance /= values.length;
  return { mean, std: Math.sqrt(variance), values, subsetSize: m };
}

export interface ClassAccuracy {
  /** Fraction of samples whose predicted class is the intended one. */
  accuracy: number;
  count: number;
  correct: number;
  /** Per intended class: how many were asked for, how many were recognised, the fraction. */
  perClass: { label: number; count: number; correct: number; accuracy: number }[];
  /** confusion[intended][predicted] counts. */
  confusion: number[][];
}

/** Accuracy of the classifier's labels against the labels the samples were generated for. */
export function classConditionalAccuracy(
  predicted: ArrayLike<number>,
  intended: ArrayLike<number>,
  numClasses?: number,
): ClassAccuracy {
  if (predicted.length !== intended.length)
    throw new InputError(`${predicted.length} predicted labels for ${intended.length} intended ones`);
  let max = -1;
  for (let i = 0; i < predicted.length; i++) max = Math.max(max, predicted[i] ?? 0, intended[i] ?? 0);
  const classes = numClasses ?? max + 1;
  if (max >= classes) throw new InputError(`label ${max} is out of range for ${classes} classes`);
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let correct = 0;
  for (let i = 0; i < predicted.length; i++) {
    const p = predicted[i] ?? 0;
    const t = intended[i] ?? 0;
    if (!(Number.isInteger(p) && Number.isInteger(t) && p >= 0 && t >= 0))
      throw new InputError(`labels must be non-negative integers, got ${p} and ${t}`);
    const row = confusion[t];
    if (row) row[p] = (row[p] ?? 0) + 1;
    if (p === t) correct++;
  }
  const perClass = confusion.map((row, label) => {
    const count = row.reduce((a, b) => a + b, 0);
    const ok = row[label] ?? 0;
    return { label, count, correct: ok, accuracy: count > 0 ? ok / count : 0 };
  });
  const count = predicted.length;
  return { accuracy: count > 0 ? correct / count : 0, count, correct, perClass, confusion };
}
