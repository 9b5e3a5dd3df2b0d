/**
 * Kernel Inception Distance (Binkowski et al. 2018) on any feature space: the unbiased estimate of
 * the squared MMD between two feature sets under the cubic polynomial kernel
 * k(x, y) = (x.y / d + 1)^3, d the feature dimension. Like the usual implementations it is
 * averaged over random subsets of equal size, whose spread gives the reported std; the
 * full-set estimate (all pairs, sets of any sizes) is returned too. Computed in float64.
 *
 * Unbiased means an estimate near 0, possibly negative, when both sets come from one
 * distribution, so the meaningful comparison is against a floor: the KID of held-out real data.
 */
import { Rng } from '../util/random.js';

export interface KidOptions {
  /** Number of random subset pairs (default 50). */
  subsets?: number;
  /** Size of each subset, at most the smaller set (default min(n, m, 1000)). */
  subsetSize?: number;
  /** Subset draws (default seed 0). */
  rng?: Rng;
}

export interface KidEstimate {
  /** Mean over the subsets of the unbiased MMD^2. */
  kid: number;
  /** Standard deviation over the subsets. */
  std: number;
  /** The unbiased MMD^2 over all pairs of the two full sets. */
  full: number;
  subsets: number;
  subsetSize: number;
}

/** k(a_i, b_j) for all pairs: a row-major |a| x |b| matrix. */
export function polynomialKernel(a: Float64Array[], b: Float64Array[]): Float64Array {
  const d = a[0]?.length ?? 0;
  const out = new Float64Array(a.length * b.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as Float64Array;
    for (let j = 0; j < b.length; j++) {
      const y = b[j] as Float64Array;
      let dot = 0;
      for (let k = 0; k < d; k++) dot += (x[k] as number) * (y[k] as number);
      out[i * b.length + j] = (dot / d + 1) ** 3;
    }
  }
  return out;
}

/** Unbiased MMD^2 from precomputed kernels, over index subsets of each set. */
function mmdUnbiased(
  kxx: Float64Array,
  kyy: Float64Array,
  kxy: Float64Array,
  n: number,
  m: number,
  ix: ArrayLike<number>,
  iy: ArrayLike<number>,
): number {
  const p = ix.length;
  const q = iy.length;
  let sxx = 0;
  for (let a = 0; a < p; a++) {
    const row = (ix[a] as number) * n;
    for (let b = 0; b < p; b++) if (a !== b) sxx += kxx[row + (ix[b] as number)] as number;
  }
  let syy = 0;
  for (let a = 0; a < q; a++) {
    const row = (iy[a] as number) * m;
    for (let b = 0; b < q; b++) if (a !== b) syy += kyy[row + (iy[b] as number)] as number;
  }
  let sxy = 0;
  for (let a = 0; a < p; a++) {
    const row = (ix[a] as number) * m;
    for (let b = 0; b < q; b++) sxy += kxy[row + (iy[b] as number)] as number;
  }
  return sxx / (p * (p - 1)) + syy / (q * (q - 1)) - (2 * sxy) / (p * q);
}

/** A random subset of `size` distinct indices below `length` (partial Fisher-Yates). */
function subset(length: number, size: number, rng: Rng): Int32Array {
  const all = Int32Array.from({ length }, (_, i) => i);
  for (let i = 0; i < size; i++) {
    const j = i + Math.floor(rng.uniform() * (length - i));
    [all[i], all[j]] = [all[j] as number, all[i] as number];
  }
  return all.slice(0, size);
}

/** KID between feature sets `x` and `y` (arrays of equal-length feature vectors). */
export function kid(x: Float64Array[], y: Float64Array[], options: KidOptions = {}): KidEstimate {
  const n = x.length;
  const m = y.length;
  if (n < 2 || m < 2) throw new Error(`kid: each set needs at least 2 feature vectors (got ${n} and ${m})`);
  const d = (x[0] as Float64Array).length;
  for (const [name, set] of [
    ['x', x],
    ['y', y],
  ] as const) {
    const bad = set.findIndex((v) => v.length !== d);
    if (bad >= 0) throw new Error(`kid: ${name}[${bad}] has ${set[bad]?.length} features, expected ${d}`);
  }
  const size = options.subsetSize ?? Math.min(n, m, 1000);
  if (size < 2 || size > Math.min(n, m)) {
    throw new Error(`kid: subset size ${size} must be in [2, ${Math.min(n, m)}]`);
  }
  const count = options.subsets ?? 50;
  const rng = options.rng ?? new Rng(0);
  const kxx = polynomialKernel(x, x);
  const kyy = polynomialKernel(y, y);
  const kxy = polynomialKernel(x, y);
  const everyX = Int32Array.from({ length: n }, (_, i) => i);
  const everyY = Int32Array.from({ length: m }, (_, i) => i);
  const full = mmdUnbiased(kxx, kyy, kxy, n, m, everyX, everyY);
  const values: number[] = [];
  for (let s = 0; s < count; s++) {
    values.push(mmdUnbiased(kxx, kyy, kxy, n, m, subset(n, size, rng), subset(m, size, rng)));
  }
  const mean = values.reduce((a, b) => a + b, 0) / count;
  const variance = count > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (count - 1) : 0;
  return { kid: mean, std: Math.sqrt(variance), full, subsets: count, subsetSize: size };
}
