/**
 * Test fixtures for the baseline solvers: Gaussian data priors whose denoiser is exact, pixel and
 * latent, and an inpainting problem on them.
 *
 * - Pixel prior: x ~ N(m, s^2 I) per element (4x4x1), exact E[x0 | z_t] (test/sampling/gaussian-prior.ts).
 * - Latent prior: codes z ~ N(mz, sz^2 I) per element (2x2x2) and a linear "autoencoder":
 *   D(z) puts M z_(i,j) (M is 4x2, full column rank) into the 2x2 pixel block (i, j);
 *   E(x) = M^+ x_block (the pseudo-inverse), so E(D(z)) = z. Both are tfjs ops with gradients.
 * Because the prior and D act independently per element / block, the exact posterior of a pixel
 * (or block) that no measurement touches is its prior: mean m (or D(mz)), std s.
 */
import * as tf from '@tensorflow/tfjs';
import { makeDenoiser } from '../../src/networks/denoiser.js';
import { InpaintOperator } from '../../src/physics/inpaint.js';
import type { NoiseSchedule } from '../../src/schedules/types.js';
import { pixelPrior, type CallCounts, type DiffusionPrior } from '../../src/solvers/prior.js';
import type { SolverContext } from '../../src/solvers/baselines/common.js';
import { Rng } from '../../src/util/random.js';
import { gaussianDenoiser, gaussianRawNet, type GaussianData } from '../sampling/gaussian-prior.js';

export const PIXEL_DATA: GaussianData = {
  mean: [0.3, -0.2, 0.1, 0.4, -0.4, 0.2, 0, -0.1, 0.25, 0.15, -0.3, 0.05, 0.35, -0.05, 0.2, -0.25],
  std: 0.25,
  shape: [4, 4, 1],
};

/** Observed = 1. Left half plus one more pixel observed; the rest missing. */
export const PIXEL_MASK = [1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1, 0, 0];

/** Block-aligned mask for the latent tests: blocks (0,0) and (1,0) observed (the left half). */
export const BLOCK_MASK = [1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0];

/** A known image to measure (values in [-1, 1]). */
export const X_TRUE = [0.5, -0.1, 0.2, 0.3, -0.3, 0.35, 0.1, 0, 0.2, 0.3, -0.2, 0.15, 0.45, 0.05, 0.1, -0.2];

export function pixelGaussianPrior(schedule: NoiseSchedule): DiffusionPrior {
  return pixelPrior(gaussianDenoiser(PIXEL_DATA, schedule, schedule.kind === 'vp' ? 'eps' : 'x0'));
}

export const LATENT_DATA: GaussianData = {
  mean: [0.2, -0.1, 0.1, 0.3, -0.2, 0.0, 0.15, -0.25],
  std: 0.3,
  shape: [2, 2, 2],
};

/** M, 4 x 2 (rows: the 2x2 block's pixels in row-major order), full column rank. */
export const DECODER_M = [
  [0.8, 0.2],
  [0.5, -0.4],
  [-0.3, 0.7],
  [0.4, 0.6],
];

function pinv(m: number[][]): number[][] {
  // (M^T M)^-1 M^T for a 4x2 M.
  const a = m.reduce((s, r) => s + (r[0] as number) ** 2, 0);
  const b = m.reduce((s, r) => s + (r[0] as number) * (r[1] as number), 0);
  const d = m.reduce((s, r) => s + (r[1] as number) ** 2, 0);
  const det = a * d - b * b;
  const inv = [
    [d / det, -b / det],
    [-b / det, a / det],
  ];
  return [0, 1].map((i) =>
    m.map((r) => (inv[i]?.[0] as number) * (r[0] as number) + (inv[i]?.[1] as number) * (r[1] as number)),
  );
}

/** D(z) for z [N, 2, 2, 2] -> [N, 4, 4, 1] (float64 reference). */
export function decodeReference(z: ArrayLike<number>, n: number): number[] {
  const out = new Array<number>(n * 16).fill(0);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 2; j++) {
        const c0 = z[b * 8 + (i * 2 + j) * 2] as number;
        const c1 = z[b * 8 + (i * 2 + j) * 2 + 1] as number;
        for (let p = 0; p < 4; p++) {
          const row = DECODER_M[p] as number[];
          const [dy, dx] = [Math.floor(p / 2), p % 2];
          out[b * 16 + (2 * i + dy) * 4 + (2 * j + dx)] = (row[0] as number) * c0 + (row[1] as number) * c1;
        }
      }
    }
  }
  return out;
}

export function latentGaussianPrior(schedule: NoiseSchedule): DiffusionPrior {
  const denoiser = makeDenoiser({
    net: gaussianRawNet(LATENT_DATA, schedule, schedule.kind === 'vp' ? 'eps' : 'x0'),
    parameterization: schedule.kind === 'vp' ? 'eps' : 'x0',
    schedule,
    space: 'latent',
    dataShape: LATENT_DATA.shape,
    preconditioning: 'none',
  });
  const mT = [0, 1].map((c) => DECODER_M.map((r) => r[c] as number)); // 2 x 4
  const p = pinv(DECODER_M); // 2 x 4
  return {
    denoiser,
    space: 'latent',
    imageShape: [4, 4, 1],
    latentShape: [2, 2, 2],
    decode: (z) =>
      tf.tidy(() => {
        const n = z.shape[0];
        const blocks = tf.matMul(tf.reshape(z, [n * 4, 2]), tf.tensor2d(mT)); // [n*4, 4]
        const six = tf.reshape(blocks, [n, 2, 2, 2, 2]); // n, i, j, dy, dx
        return tf.reshape(tf.transpose(six, [0, 1, 3, 2, 4]), [n, 4, 4, 1]) as tf.Tensor4D;
      }),
    encode: (x) =>
      tf.tidy(() => {
        const n = x.shape[0];
        const six = tf.transpose(tf.reshape(x, [n, 2, 2, 2, 2]), [0, 1, 3, 2, 4]); // n, i, j, dy, dx
        const codes = tf.matMul(tf.reshape(six, [n * 4, 4]), tf.transpose(tf.tensor2d(p)));
        return tf.reshape(codes, [n, 2, 2, 2]) as tf.Tensor4D;
      }),
  };
}

export function inpaintProblem(mask: number[], xTrue: number[] = X_TRUE): InpaintOperator {
  const x = tf.tensor4d(xTrue, [1, 4, 4, 1]);
  const m = tf.tensor4d(mask, [1, 4, 4, 1]);
  try {
    return InpaintOperator.measure(x, m, {}, new Rng(1));
  } finally {
    x.dispose();
    m.dispose();
  }
}

export interface Recorded {
  ctx: SolverContext;
  calls: CallCounts;
  progress: number[];
}

export function recordingContext(seed: number, signal?: AbortSignal): Recorded {
  const calls: CallCounts = { forward: 0, gradient: 0 };
  const progress: number[] = [];
  return {
    calls,
    progress,
    ctx: {
      rng: new Rng(seed),
      signal,
      onCalls: (kind, n = 1) => {
        calls[kind] += n;
      },
      onProgress: (p) => progress.push(p.step),
    },
  };
}

/** Per-pixel sample means over the batch, and per-sample residual norms on observed pixels. */
export function stats(
  values: ArrayLike<number>,
  n: number,
  mask: number[],
  xTrue: number[],
): { mean: number[]; maxObservedErr: number; residual: number[] } {
  const mean = new Array<number>(16).fill(0);
  let maxObservedErr = 0;
  const residual: number[] = [];
  for (let b = 0; b < n; b++) {
    let r2 = 0;
    for (let j = 0; j < 16; j++) {
      const v = values[b * 16 + j] as number;
      mean[j] = (mean[j] as number) + v / n;
      if (mask[j] === 1) {
        const e = v - (xTrue[j] as number);
        r2 += e * e;
        maxObservedErr = Math.max(maxObservedErr, Math.abs(e));
      }
    }
    residual.push(Math.sqrt(r2));
  }
  return { mean, maxObservedErr, residual };
}

export const average = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
