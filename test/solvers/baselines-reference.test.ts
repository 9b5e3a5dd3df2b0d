/**
 * Step-by-step float64 references for Blended, RePaint, DPS (VP, EDM, with clipping), RED-diff
 * (with and without sigma_x0), CoPaint(-TT) and ReSample on the exact Gaussian prior (4x4, 2 samples):
 * each reference is written here from the papers' update rules, draws the same standard normals
 * from an identically seeded Rng in the same order, and must reproduce the solver's samples
 * (float32) to 2e-4 relative to the largest value (RED-diff 5e-5, ReSample 1e-5; measured errors
 * are ~1e-6 and 1e-7).
 * Also: PSLD's gluing gradient through a linear autoencoder against float64 central differences,
 * and ReSample's consistency schedule / call count for the paper's defaults.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import { edm, vpDiscrete } from '../../src/schedules/index.js';
import type { NoiseLevel, NoiseSchedule } from '../../src/schedules/types.js';
import { Rng } from '../../src/util/random.js';
import { blended } from '../../src/solvers/baselines/blended.js';
import { repaint } from '../../src/solvers/baselines/repaint.js';
import { dps, guidedGradient } from '../../src/solvers/baselines/dps.js';
import { psldGluingTerm } from '../../src/solvers/baselines/psld.js';
import { redDiff } from '../../src/solvers/baselines/red-diff.js';
import { copaint } from '../../src/solvers/baselines/copaint.js';
import {
  resample,
  resampleCallCounts,
  resampleConsistencySteps,
} from '../../src/solvers/baselines/resample.js';
import { jumpSchedule, timeGrid } from '../../src/solvers/baselines/schedule-grid.js';
import { exactX0, gaussianDenoiser, type GaussianData } from '../sampling/gaussian-prior.js';
import { pixelPrior } from '../../src/solvers/prior.js';
import {
  BLOCK_MASK,
  DECODER_M,
  LATENT_DATA,
  PIXEL_DATA,
  PIXEL_MASK,
  X_TRUE,
  decodeReference,
  inpaintProblem,
  latentGaussianPrior,
  pixelGaussianPrior,
} from './baselines-helpers.js';

const B = 2;
const D = 16;
const CLEAN: NoiseLevel = { alpha: 1, sigma: 0 };
const Y = X_TRUE.map((v, j) => v * (PIXEL_MASK[j] as number));

function maxRelErr(a: ArrayLike<number>, b: number[]): number {
  let num = 0;
  let den = 1e-3;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs((a[i] as number) - (b[i] as number)));
    den = Math.max(den, Math.abs(b[i] as number));
  }
  return num / den;
}

const level = (s: NoiseSchedule, t: number): NoiseLevel => (t < 0 ? CLEAN : s.level(t));

/** The DDIM step (std convention) for one element, float64. */
function ddim(z: number, x0: number, lt: NoiseLevel, ls: NoiseLevel, eta: number, noise: number): number {
  const eps = (z - lt.alpha * x0) / lt.sigma;
  const aTS = lt.alpha / ls.alpha;
  const sTS2 = Math.max(0, lt.sigma ** 2 - aTS ** 2 * ls.sigma ** 2);
  const std = eta * Math.sqrt((ls.sigma ** 2 * sTS2) / lt.sigma ** 2);
  return ls.alpha * x0 + Math.sqrt(Math.max(0, ls.sigma ** 2 - std * std)) * eps + std * noise;
}

/** The ancestral step q(z_s | z_t, x0) for one element, float64. */
function ancestral(z: number, x0: number, lt: NoiseLevel, ls: NoiseLevel, noise: number): number {
  const aTS = lt.alpha / ls.alpha;
  const sTS2 = Math.max(0, lt.sigma ** 2 - aTS ** 2 * ls.sigma ** 2);
  const mean = ((aTS * ls.sigma ** 2) / lt.sigma ** 2) * z + ((ls.alpha * sTS2) / lt.sigma ** 2) * x0;
  return mean + Math.sqrt((sTS2 * ls.sigma ** 2) / lt.sigma ** 2) * noise;
}

/** Replacement of observed entries by alpha y + sigma n (pixel prior). */
function replace(z: number[], lv: NoiseLevel, noise: Float32Array): number[] {
  return z.map((v, i) =>
    PIXEL_MASK[i % D] === 1 ? lv.alpha * (Y[i % D] as number) + lv.sigma * (noise[i] as number) : v,
  );
}

const x0Of = (z: number[], lv: NoiseLevel, data: GaussianData = PIXEL_DATA): number[] =>
  z.map((v, i) => exactX0(data, i % D, v, lv));

/** Bright data whose predictions often leave [-1, 1], to exercise DPS's clipping. */
const BRIGHT: GaussianData = { mean: new Array<number>(16).fill(0.85), std: 0.3, shape: [4, 4, 1] };

async function run(
  f: (ctx: { rng: Rng }) => Promise<tf.Tensor4D>,
): Promise<{ values: Float32Array; leaked: number }> {
  const before = tf.memory().numTensors;
  const x = await f({ rng: new Rng(77) });
  const values = x.dataSync() as Float32Array;
  x.dispose();
  return { values, leaked: tf.memory().numTensors - before };
}

const clip = (v: number): number => Math.min(1, Math.max(-1, v));

for (const backend of TEST_BACKENDS) {
  test(`Blended and RePaint match float64 chains [${backend}]`, async () => {
    await useBackend(backend);
    const schedule = vpDiscrete();
    const prior = pixelGaussianPrior(schedule);
    const op = inpaintProblem(PIXEL_MASK);
    try {
      // Blended, 5 levels, ancestral (eta = 1).
      const out = await run((ctx) => blended(prior, op, { samples: B, steps: 5 }, ctx));
      assert.equal(out.leaked, 0);
      const rng = new Rng(77);
      const times = timeGrid(schedule, 5).reverse();
      let z = Array.from(rng.normalArray(B * D));
      times.forEach((t, i) => {
        const lt = level(schedule, t);
        const ls = i + 1 < times.length ? level(schedule, times[i + 1] as number) : CLEAN;
        z = replace(z, lt, rng.normalArray(B * D));
        const x0 = x0Of(z, lt);
        const noise = ls.sigma > 0 ? rng.normalArray(B * D) : new Float32Array(B * D);
        z = z.map((v, k) => ddim(v, x0[k] as number, lt, ls, 1, noise[k] as number));
      });
      z = replace(z, CLEAN, rng.normalArray(B * D)).map(clip);
      assert.ok(maxRelErr(out.values, z) < 2e-4, `Blended: ${maxRelErr(out.values, z)}`);

      // RePaint, 4 levels, jump length 2, 2 resamplings: 3 2 1 0 1 2 1 0 -1.
      const rp = await run((ctx) =>
        repaint(prior, op, { samples: B, steps: 4, jumpLength: 2, resamplings: 2 }, ctx),
      );
      assert.equal(rp.leaked, 0);
      const rng2 = new Rng(77);
      const grid = timeGrid(schedule, 4);
      const seq = jumpSchedule(4, 2, 2);
      assert.deepEqual(seq, [3, 2, 1, 0, 1, 2, 1, 0, -1]);
      let w = Array.from(rng2.normalArray(B * D));
      for (let k = 1; k < seq.length; k++) {
        const [a, b] = [seq[k - 1] as number, seq[k] as number];
        const la = level(schedule, grid[a] as number);
        const lb = b < 0 ? CLEAN : level(schedule, grid[b] as number);
        if (b < a) {
          w = replace(w, la, rng2.normalArray(B * D));
          const x0 = x0Of(w, la).map(clip); // RePaint clips x_hat for pixel priors
          const noise = b >= 0 ? rng2.normalArray(B * D) : new Float32Array(B * D);
          w = w.map((v, i) => ancestral(v, x0[i] as number, la, lb, noise[i] as number));
        } else {
          const noise = rng2.normalArray(B * D);
          const aTS = lb.alpha / la.alpha;
          const s = Math.sqrt(lb.sigma ** 2 - aTS ** 2 * la.sigma ** 2);
          w = w.map((v, i) => aTS * v + s * (noise[i] as number));
        }
      }
      w = replace(w, CLEAN, rng2.normalArray(B * D)).map(clip);
      assert.ok(maxRelErr(rp.values, w) < 2e-4, `RePaint: ${maxRelErr(rp.values, w)}`);
    } finally {
      op.dispose();
    }
  });

  test(`DPS matches a float64 chain with the closed-form likelihood gradient, VP and EDM [${backend}]`, async () => {
    await useBackend(backend);
    const cases: [NoiseSchedule, GaussianData][] = [
      [vpDiscrete(), PIXEL_DATA],
      [edm(), PIXEL_DATA],
      [vpDiscrete(), BRIGHT],
    ];
    let clipped = 0;
    for (const [schedule, data] of cases) {
      const prior = pixelPrior(gaussianDenoiser(data, schedule, schedule.kind === 'vp' ? 'eps' : 'x0'));
      const op = inpaintProblem(PIXEL_MASK);
      try {
        const scale = 0.1;
        const out = await run((ctx) => dps(prior, op, { samples: B, steps: 4, scale, eta: 1 }, ctx));
        assert.equal(out.leaked, 0);
        const rng = new Rng(77);
        const times = timeGrid(schedule, 4).reverse();
        const top = schedule.level(times[0] as number);
        let z = Array.from(rng.normalArray(B * D)).map((v) => v * (schedule.kind === 'vp' ? 1 : top.sigma));
        times.forEach((t, i) => {
          const lt = level(schedule, t);
          const ls = i + 1 < times.length ? level(schedule, times[i + 1] as number) : CLEAN;
          const raw = x0Of(z, lt, data);
          // DPS clips x_hat for pixel priors (zero gradient where clipped).
          const x0 = raw.map(clip);
          const inside = raw.map((v) => (Math.abs(v) <= 1 ? 1 : 0));
          clipped += inside.filter((v) => v === 0).length;
          // d x0 / d z = k (elementwise); residual norm per sample over observed pixels.
          const k = (lt.alpha * data.std ** 2) / (lt.alpha ** 2 * data.std ** 2 + lt.sigma ** 2);
          const norms = [0, 1].map((b) =>
            Math.sqrt(
              Array.from({ length: D }, (_, j) =>
                PIXEL_MASK[j] === 1 ? ((x0[b * D + j] as number) - (Y[j] as number)) ** 2 : 0,
              ).reduce((p, q) => p + q, 1e-20),
            ),
          );
          const noise = ls.sigma > 0 ? rng.normalArray(B * D) : new Float32Array(B * D);
          z = z.map((v, n) => {
            const j = n % D;
            const b = Math.floor(n / D);
            const grad =
              PIXEL_MASK[j] === 1
                ? ((inside[n] as number) * k * ((x0[n] as number) - (Y[j] as number))) / (norms[b] as number)
                : 0;
            // eps re-derived from the clipped x_hat: the step is DDPM's q(z_s | z_t, clip(x_hat)).
            return ddim(v, x0[n] as number, lt, ls, 1, noise[n] as number) - scale * grad;
          });
        });
        const ref = z.map(clip);
        assert.ok(maxRelErr(out.values, ref) < 2e-4, `DPS ${schedule.kind}: ${maxRelErr(out.values, ref)}`);
      } finally {
        op.dispose();
      }
    }
    assert.ok(clipped > 0, 'the bright case never clipped x_hat');
  });

  test(`RED-diff matches a float64 Adam chain [${backend}]`, async () => {
    await useBackend(backend);
    const schedule = vpDiscrete();
    const prior = pixelGaussianPrior(schedule);
    const op = inpaintProblem(PIXEL_MASK);
    try {
      for (const sigmaX0 of [0, 0.1]) {
        const [steps, lambda, lr] = [4, 0.5, 0.1];
        const out = await run((ctx) => redDiff(prior, op, { samples: B, steps, lambda, lr, sigmaX0 }, ctx));
        assert.equal(out.leaked, 0);
        const rng = new Rng(77);
        const grid = timeGrid(schedule, steps);
        // A^+ y = y for inpainting.
        let mu = Array.from({ length: B * D }, (_, n) => Y[n % D] as number);
        let m = new Array<number>(B * D).fill(0);
        let v = new Array<number>(B * D).fill(0);
        for (let it = 0; it < steps; it++) {
          const lt = schedule.level(grid[steps - 1 - it] as number);
          const w = lambda * (lt.sigma / lt.alpha);
          // x0 = mu + sigmaX0 n0, n0 drawn first (only when sigmaX0 > 0).
          const n0 = sigmaX0 > 0 ? rng.normalArray(B * D) : new Float32Array(B * D);
          const eps = rng.normalArray(B * D);
          const g = mu.map((m0, n) => {
            const x = m0 + sigmaX0 * (n0[n] as number);
            const j = n % D;
            const zt = lt.alpha * x + lt.sigma * (eps[n] as number);
            const epsHat = (zt - lt.alpha * exactX0(PIXEL_DATA, j, zt, lt)) / lt.sigma;
            const data = PIXEL_MASK[j] === 1 ? -((Y[j] as number) - x) / D : 0;
            return (w * (epsHat - (eps[n] as number))) / D + data;
          });
          m = m.map((a, n) => 0.9 * a + 0.1 * (g[n] as number));
          v = v.map((a, n) => 0.99 * a + 0.01 * (g[n] as number) ** 2);
          const c1 = 1 - 0.9 ** (it + 1);
          const c2 = 1 - 0.99 ** (it + 1);
          mu = mu.map(
            (x, n) => x - (lr * ((m[n] as number) / c1)) / (Math.sqrt((v[n] as number) / c2) + 1e-8),
          );
        }
        const ref = mu.map(clip);
        assert.ok(
          maxRelErr(out.values, ref) < 5e-5,
          `RED-diff sigmaX0 ${sigmaX0}: ${maxRelErr(out.values, ref)}`,
        );
      }
    } finally {
      op.dispose();
    }
  });

  test(`CoPaint and CoPaint-TT (fixed lr) match float64 chains [${backend}]`, async () => {
    await useBackend(backend);
    const schedule = vpDiscrete();
    const prior = pixelGaussianPrior(schedule);
    const op = inpaintProblem(PIXEL_MASK);
    try {
      const o = {
        steps: 4,
        gradSteps: 2,
        lr: 0.2,
        lrGrowth: 1.012,
        regCoef: 0.01,
        jumpLength: 2,
        jumpNSample: 2,
      };
      for (const timeTravel of [false, true]) {
        const out = await run((ctx) =>
          copaint(prior, op, { ...o, samples: B, adaptiveLr: false, timeTravel }, ctx),
        );
        assert.equal(out.leaked, 0);
        const rng = new Rng(77);
        const grid = timeGrid(schedule, o.steps);
        const levelOf = (i: number): NoiseLevel => (i < 0 ? CLEAN : schedule.level(grid[i] as number));
        const alpha0 = schedule.alpha(grid[0] as number);
        // Plain: 3 2 1 0 -1; TT: RePaint's walk with one jump back of 2 levels at index 0.
        const seq = timeTravel ? [3, 2, 1, 0, 1, 2, 1, 0, -1] : [3, 2, 1, 0, -1];
        let z = Array.from(rng.normalArray(B * D));
        let lr = o.lr;
        let lastWasReverse = false;
        // gradSteps plain gradient steps on ||m (y - clip(x0))||^2 + reg ||z - z_origin||^2.
        const optimise = (zIn: number[], lt: NoiseLevel, lrHere: number): number[] => {
          const k = (lt.alpha * PIXEL_DATA.std ** 2) / (lt.alpha ** 2 * PIXEL_DATA.std ** 2 + lt.sigma ** 2);
          const origin = [...zIn];
          let w = [...zIn];
          for (let g = 0; g < o.gradSteps; g++) {
            w = w.map((x, n) => {
              const j = n % D;
              const x0 = exactX0(PIXEL_DATA, j, x, lt);
              const inside = Math.abs(x0) < 1 ? 1 : 0;
              const data = PIXEL_MASK[j] === 1 ? -2 * ((Y[j] as number) - clip(x0)) * inside * k : 0;
              return x - lrHere * (data + 2 * o.regCoef * (x - (origin[n] as number)));
            });
          }
          return w;
        };
        for (let q = 1; q < seq.length; q++) {
          const [a, b] = [seq[q - 1] as number, seq[q] as number];
          const lt = levelOf(a);
          const lrHere = lr * (lt.alpha / alpha0);
          if (b < a) {
            const ls = levelOf(b);
            z = optimise(z, lt, lrHere).map((x, n) => {
              const x0 = exactX0(PIXEL_DATA, n % D, x, lt);
              const eps = (x - lt.alpha * x0) / lt.sigma;
              // DDIM eta = 0 with the clipped x0 and the network's eps.
              return ls.alpha * clip(x0) + ls.sigma * eps;
            });
            lr *= o.lrGrowth;
            lastWasReverse = true;
          } else {
            // Optimise once more before the jump back, then noise one level up.
            if (lastWasReverse) z = optimise(z, lt, lrHere);
            const lb = levelOf(b);
            const aTS = lb.alpha / lt.alpha;
            const sd = Math.sqrt(lb.sigma ** 2 - aTS ** 2 * lt.sigma ** 2);
            const noise = rng.normalArray(B * D);
            z = z.map((x, n) => aTS * x + sd * (noise[n] as number));
            lr /= o.lrGrowth;
            lastWasReverse = false;
          }
        }
        const ref = z.map(clip);
        const err = maxRelErr(out.values, ref);
        assert.ok(err < 2e-4, `CoPaint${timeTravel ? '-TT' : ''}: ${err}`);
      }
    } finally {
      op.dispose();
    }
  });

  test(`CoPaint with adaptive backtracking matches a float64 chain [${backend}]`, async () => {
    await useBackend(backend);
    const schedule = vpDiscrete();
    const prior = pixelGaussianPrior(schedule);
    const op = inpaintProblem(PIXEL_MASK);
    try {
      // A large lr so that backtracking (lr x 0.8 until the batch loss decreases) happens.
      const o = { steps: 4, gradSteps: 2, lr: 6, lrGrowth: 1.012, regCoef: 0.01 };
      const calls = { forward: 0, gradient: 0 };
      const out = await run((ctx) =>
        copaint(prior, op, { ...o, samples: B }, { ...ctx, onCalls: (k, n = 1) => (calls[k] += n) }),
      );
      assert.equal(out.leaked, 0);
      const rng = new Rng(77);
      const grid = timeGrid(schedule, o.steps);
      const alpha0 = schedule.alpha(grid[0] as number);
      let z = Array.from(rng.normalArray(B * D));
      let lr = o.lr;
      let evaluations = 0;
      for (let i = o.steps - 1; i >= 0; i--) {
        const lt = schedule.level(grid[i] as number);
        const ls = i > 0 ? schedule.level(grid[i - 1] as number) : CLEAN;
        const k = (lt.alpha * PIXEL_DATA.std ** 2) / (lt.alpha ** 2 * PIXEL_DATA.std ** 2 + lt.sigma ** 2);
        const origin = [...z];
        const loss = (w: number[]): number =>
          w.reduce((acc, x, n) => {
            const j = n % D;
            const x0 = clip(exactX0(PIXEL_DATA, j, x, lt));
            const data = PIXEL_MASK[j] === 1 ? ((Y[j] as number) - x0) ** 2 : 0;
            return acc + data + o.regCoef * (x - (origin[n] as number)) ** 2;
          }, 0);
        let lrStep = lr * (lt.alpha / alpha0);
        for (let g = 0; g < o.gradSteps; g++) {
          const grad = z.map((x, n) => {
            const j = n % D;
            const x0 = exactX0(PIXEL_DATA, j, x, lt);
            const inside = Math.abs(x0) < 1 ? 1 : 0;
            const data = PIXEL_MASK[j] === 1 ? -2 * ((Y[j] as number) - clip(x0)) * inside * k : 0;
            return data + 2 * o.regCoef * (x - (origin[n] as number));
          });
          const before = loss(z);
          for (let tries = 0; ; tries++) {
            const next = z.map((x, n) => x - lrStep * (grad[n] as number));
            evaluations++;
            if (loss(next) <= before || tries >= 20) {
              z = next;
              break;
            }
            lrStep *= 0.8;
          }
        }
        z = z.map((x, n) => {
          const x0 = exactX0(PIXEL_DATA, n % D, x, lt);
          return ls.alpha * clip(x0) + ls.sigma * ((x - lt.alpha * x0) / lt.sigma);
        });
        lr *= o.lrGrowth;
      }
      assert.ok(evaluations > o.steps * o.gradSteps, 'the reference never backtracked');
      assert.deepEqual(calls, { gradient: o.steps * o.gradSteps, forward: evaluations });
      const ref = z.map(clip);
      assert.ok(maxRelErr(out.values, ref) < 2e-4, `CoPaint adaptive: ${maxRelErr(out.values, ref)}`);
    } finally {
      op.dispose();
    }
  });

  test(`PSLD's gluing gradient through a linear autoencoder matches float64 differences [${backend}]`, async () => {
    await useBackend(backend);
    const schedule = vpDiscrete();
    const prior = latentGaussianPrior(schedule);
    const xTrue = decodeReference(
      LATENT_DATA.mean.map((v, i) => v + 0.2 * Math.cos(i)),
      1,
    );
    const op = inpaintProblem(BLOCK_MASK, xTrue);
    const y = xTrue.map((v, j) => v * (BLOCK_MASK[j] as number));
    const t = 300;
    const lt = schedule.level(t);
    const gamma = 0.7;
    const z0 = Array.from(new Rng(5).normalArray(8));
    // float64 loss: ||y - A D(x0)|| + gamma ||E(A^T y + (I - A^T A) D(x0)) - x0||.
    const mT = DECODER_M;
    const ata = [0, 1].map((a) =>
      [0, 1].map((b) => mT.reduce((s, r) => s + (r[a] as number) * (r[b] as number), 0)),
    );
    const det = (ata[0]?.[0] as number) * (ata[1]?.[1] as number) - (ata[0]?.[1] as number) ** 2;
    const encodeBlock = (px: number[]): number[] => {
      const atb = [0, 1].map((a) => mT.reduce((s, r, p) => s + (r[a] as number) * (px[p] as number), 0));
      return [
        ((ata[1]?.[1] as number) * (atb[0] as number) - (ata[0]?.[1] as number) * (atb[1] as number)) / det,
        ((ata[0]?.[0] as number) * (atb[1] as number) - (ata[0]?.[1] as number) * (atb[0] as number)) / det,
      ];
    };
    const loss = (z: number[]): number => {
      const x0 = z.map((v, i) => exactX0(LATENT_DATA, i, v, lt));
      const img = decodeReference(x0, 1);
      const res = Math.sqrt(
        img.reduce((s, v, j) => s + (BLOCK_MASK[j] === 1 ? (v - (y[j] as number)) ** 2 : 0), 1e-20),
      );
      const target = img.map((v, j) => (BLOCK_MASK[j] === 1 ? (y[j] as number) : v));
      let glue2 = 0;
      for (let bi = 0; bi < 2; bi++) {
        for (let bj = 0; bj < 2; bj++) {
          const px = [0, 1, 2, 3].map(
            (p) => target[(2 * bi + Math.floor(p / 2)) * 4 + 2 * bj + (p % 2)] as number,
          );
          const code = encodeBlock(px);
          const at = (bi * 2 + bj) * 2;
          glue2 +=
            ((code[0] as number) - (x0[at] as number)) ** 2 +
            ((code[1] as number) - (x0[at + 1] as number)) ** 2;
        }
      }
      return res + gamma * Math.sqrt(glue2 + 1e-12);
    };
    const h = 1e-6;
    const ref = z0.map((_, i) => {
      const p = [...z0];
      const q = [...z0];
      p[i] = (p[i] as number) + h;
      q[i] = (q[i] as number) - h;
      return (loss(p) - loss(q)) / (2 * h);
    });
    const before = tf.memory().numTensors;
    const zT = tf.tensor4d(z0, [1, 2, 2, 2]);
    const g = guidedGradient(prior, op, zT, t, psldGluingTerm(prior, op, gamma));
    const got = g.grad.dataSync();
    [zT, g.grad, g.x0, g.eps].forEach((x) => x.dispose());
    op.dispose();
    assert.equal(tf.memory().numTensors, before - 2, 'only the operator tensors were released');
    assert.ok(
      maxRelErr(got, ref) < 1e-3,
      `PSLD gradient: ${maxRelErr(got, ref)} (${Array.from(got)} vs ${ref})`,
    );
  });
  test(`ReSample matches a float64 chain (DPS steps, look-ahead, both optimiser stages, resampling) [${backend}]`, async () => {
    await useBackend(backend);
    const schedule = vpDiscrete();
    const prior = pixelGaussianPrior(schedule);
    const op = inpaintProblem(PIXEL_MASK);
    try {
      const o = {
        steps: 9,
        interval: 2,
        lookahead: 1,
        optSteps: 3,
        pixelLr: 0.05,
        latentLr: 0.03,
        gamma: 40,
        dpsScale: 0.5,
      };
      const out = await run((ctx) => resample(prior, op, { ...o, samples: B }, ctx));
      assert.equal(out.leaked, 0);
      const stages = resampleConsistencySteps(o.steps, o.interval);
      assert.deepEqual(stages, [
        { i: 2, stage: 'pixel' },
        { i: 4, stage: 'pixel' },
        { i: 6, stage: 'latent' },
      ]);
      const rng = new Rng(77);
      const times = timeGrid(schedule, o.steps).reverse();
      const lv = (i: number): NoiseLevel => (i < times.length ? schedule.level(times[i] as number) : CLEAN);
      const kOf = (l: NoiseLevel): number =>
        (l.alpha * PIXEL_DATA.std ** 2) / (l.alpha ** 2 * PIXEL_DATA.std ** 2 + l.sigma ** 2);
      // Adam (0.9, 0.999) on sum_b mean_j (y - A x)^2, identity decoder; stops below 1e-6 per sample.
      const optimise = (x: number[], lr: number): number[] => {
        let v = [...x];
        let m1 = new Array<number>(v.length).fill(0);
        let m2 = new Array<number>(v.length).fill(0);
        for (let it = 0; it < o.optSteps; it++) {
          const loss =
            v.reduce(
              (a, val, n) => a + (PIXEL_MASK[n % D] === 1 ? ((Y[n % D] as number) - val) ** 2 : 0),
              0,
            ) / D;
          if (loss / B < 1e-6) break;
          const g = v.map((val, n) =>
            PIXEL_MASK[n % D] === 1 ? (-2 * ((Y[n % D] as number) - val)) / D : 0,
          );
          m1 = m1.map((a, n) => 0.9 * a + 0.1 * (g[n] as number));
          m2 = m2.map((a, n) => 0.999 * a + 0.001 * (g[n] as number) ** 2);
          const c1 = 1 - 0.9 ** (it + 1);
          const c2 = 1 - 0.999 ** (it + 1);
          v = v.map(
            (val, n) => val - (lr * ((m1[n] as number) / c1)) / (Math.sqrt((m2[n] as number) / c2) + 1e-8),
          );
        }
        return v;
      };
      let z = Array.from(rng.normalArray(B * D));
      for (let i = 0; i < o.steps; i++) {
        const [lt, ls] = [lv(i), lv(i + 1)];
        // DPS step: DDIM (eta 0) minus 0.5 abar_t times the gradient of the residual norm.
        const x0 = x0Of(z, lt);
        const k = kOf(lt);
        const norms = [0, 1].map((b) =>
          Math.sqrt(
            Array.from({ length: D }, (_, j) =>
              PIXEL_MASK[j] === 1 ? ((x0[b * D + j] as number) - (Y[j] as number)) ** 2 : 0,
            ).reduce((p, q) => p + q, 1e-20),
          ),
        );
        z = z.map((v, n) => {
          const j = n % D;
          const grad =
            PIXEL_MASK[j] === 1
              ? (k * ((x0[n] as number) - (Y[j] as number))) / (norms[Math.floor(n / D)] as number)
              : 0;
          return ddim(v, x0[n] as number, lt, ls, 0, 0) - o.dpsScale * lt.alpha ** 2 * grad;
        });
        const stage = stages.find((c) => c.i === i)?.stage;
        if (stage) {
          // One look-ahead level: z0' = x_hat(z_s, s).
          const z0 = x0Of(z, ls);
          const opt = optimise(z0, stage === 'pixel' ? o.pixelLr : o.latentLr);
          const [aT, aS] = [lt.alpha ** 2, ls.alpha ** 2];
          const v = (o.gamma * (1 - aS) * (1 - aT / aS)) / (1 - aT);
          const noise = rng.normalArray(B * D);
          const std = Math.sqrt(1 / (1 / v + 1 / (1 - aS)));
          z = z.map(
            (zs, n) =>
              (v * Math.sqrt(aS) * (opt[n] as number) + (1 - aS) * zs) / (v + 1 - aS) +
              std * (noise[n] as number),
          );
        }
      }
      const ref = optimise(z, o.latentLr).map(clip);
      assert.ok(maxRelErr(out.values, ref) < 1e-5, `ReSample: ${maxRelErr(out.values, ref)}`);
    } finally {
      op.dispose();
    }
  });
}

test("ReSample's consistency steps and network calls for the paper's defaults", () => {
  const steps = resampleConsistencySteps(500, 10);
  // index = 499 - i in (0, 500 - 166] with index % 10 == 0: 10, 20, ..., 330.
  assert.equal(steps.length, 33);
  assert.deepEqual(
    steps.map((s) => 499 - s.i),
    Array.from({ length: 33 }, (_, k) => 330 - 10 * k),
  );
  assert.equal(steps.filter((s) => s.stage === 'pixel').length, 17); // 170 .. 330
  assert.deepEqual(resampleCallCounts(), { gradient: 500, forward: 33 * 5 });
  assert.deepEqual(resampleCallCounts({ dpsScale: 0, steps: 30, interval: 2, lookahead: 0 }), {
    gradient: 0,
    forward: 30 + resampleConsistencySteps(30, 2).length,
  });
});
