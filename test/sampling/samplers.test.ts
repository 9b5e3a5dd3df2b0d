/**
 * Samplers on Gaussian data x ~ N(m, s^2 I), where the optimal denoiser is exact (gaussian-prior.ts):
 * - every sample must match a float64 re-implementation of the same chain, written here from the
 *   papers (DDIM in abar notation; Karras Algorithm 1 / 2);
 * - the samples' mean and std must match m and s (the sampler transports noise to the data).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import { sampleDdim, sampleEdm, samplerTimes } from '../../src/sampling/sample.js';
import { edm, ve, vpDiscrete, type NoiseLevel } from '../../src/schedules/index.js';
import { Rng } from '../../src/util/random.js';
import { elementMoments, exactX0, gaussianDenoiser, type GaussianData } from './gaussian-prior.js';

const DATA: GaussianData = { mean: [0.5, -0.3, 0.2, 0], std: 0.3, shape: [2, 2, 1] };
const BATCH = 2000;
const N = BATCH * 4;

/** float64 DDIM (eta = 0) chain for one element, in abar notation; last step to abar = 1. */
function ddimChain(abar: (t: number) => number, times: number[], z0: number, j: number): number {
  let z = z0;
  for (let i = 0; i < times.length; i++) {
    const aT = abar(times[i] as number);
    const aS = i + 1 < times.length ? abar(times[i + 1] as number) : 1;
    const lvl: NoiseLevel = { alpha: Math.sqrt(aT), sigma: Math.sqrt(1 - aT) };
    const x0 = exactX0(DATA, j, z, lvl);
    const eps = (z - Math.sqrt(aT) * x0) / Math.sqrt(1 - aT);
    z = Math.sqrt(aS) * x0 + Math.sqrt(1 - aS) * eps;
  }
  return z;
}

/** float64 Karras Algorithm 1 (Heun, deterministic) for one element. */
function heunChain(sigmas: number[], x0: number, j: number): number {
  const D = (x: number, s: number): number => exactX0(DATA, j, x, { alpha: 1, sigma: s });
  let x = x0;
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const [t, tn] = [sigmas[i] as number, sigmas[i + 1] as number];
    const d = (x - D(x, t)) / t;
    let xn = x + (tn - t) * d;
    if (tn !== 0) {
      const d2 = (xn - D(xn, tn)) / tn;
      xn = x + (tn - t) * 0.5 * (d + d2);
    }
    x = xn;
  }
  return x;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/**
 * Exact moments of the DDIM chain (float64) on this data: with x_hat = m + k (z - alpha_t m) every
 * step is z_s = a z_t + b + c xi, so mean and variance follow a linear recursion. Written in abar
 * notation from the DDIM paper; the last step goes to abar = 1.
 */
function ddimMoments(
  abar: (t: number) => number,
  times: number[],
  eta: number,
  m: number,
  start: { mean: number; variance: number },
): { mean: number; std: number } {
  let { mean, variance } = start;
  const s2 = DATA.std ** 2;
  for (let i = 0; i < times.length; i++) {
    const aT = abar(times[i] as number);
    const aS = i + 1 < times.length ? abar(times[i + 1] as number) : 1;
    const k = (Math.sqrt(aT) * s2) / (aT * s2 + 1 - aT);
    const std = eta * Math.sqrt((1 - aS) / (1 - aT)) * Math.sqrt(1 - aT / aS);
    const dir = Math.sqrt(Math.max(0, 1 - aS - std * std));
    // z_s = sqrt(aS) x_hat + dir (z - sqrt(aT) x_hat) / sqrt(1 - aT) + std xi
    const cx = Math.sqrt(aS) - (dir * Math.sqrt(aT)) / Math.sqrt(1 - aT);
    const a = dir / Math.sqrt(1 - aT) + cx * k;
    mean = a * mean + cx * (m - k * Math.sqrt(aT) * m);
    variance = a * a * variance + std * std;
  }
  return { mean, std: Math.sqrt(variance) };
}

/**
 * Exact moments of Karras Algorithm 2 (Algorithm 1 when churn = 0; Euler without the correction) on this data: with
 * D(x) = m + k (x - m), each step maps x - m to a (x_hat - m); churn adds variance
 * (sigma_hat^2 - sigma^2) S_noise^2 first.
 */
function edmMoments(
  sigmas: number[],
  m: number,
  start: { mean: number; variance: number },
  churn = { sChurn: 0, sTmin: 0, sTmax: Infinity, sNoise: 1 },
  solver: 'heun' | 'euler' = 'heun',
): { mean: number; std: number } {
  let { mean, variance } = start;
  const n = sigmas.length - 1;
  const k = (sig: number): number => DATA.std ** 2 / (DATA.std ** 2 + sig * sig);
  for (let i = 0; i < n; i++) {
    const [t, tn] = [sigmas[i] as number, sigmas[i + 1] as number];
    const gamma =
      churn.sChurn > 0 && t >= churn.sTmin && t <= churn.sTmax
        ? Math.min(churn.sChurn / n, Math.SQRT2 - 1)
        : 0;
    const th = t * (1 + gamma);
    variance += (th * th - t * t) * churn.sNoise ** 2;
    const a1 = 1 + ((tn - th) * (1 - k(th))) / th;
    const a =
      solver === 'heun' && tn > 0 ? 1 + (tn - th) * 0.5 * ((1 - k(th)) / th + ((1 - k(tn)) * a1) / tn) : a1;
    mean = m + a * (mean - m);
    variance *= a * a;
  }
  return { mean, std: Math.sqrt(variance) };
}

/** Sample moments per element within 5 standard errors of the exact moments. */
function checkAgainst(
  values: Float32Array,
  exact: (j: number) => { mean: number; std: number },
  what: string,
): void {
  const mom = elementMoments(values, BATCH);
  for (let j = 0; j < 4; j++) {
    const e = exact(j);
    const seM = e.std / Math.sqrt(BATCH);
    const seS = e.std / Math.sqrt(2 * BATCH);
    assert.ok(
      Math.abs((mom.mean[j] as number) - e.mean) < 5 * seM,
      `${what}: mean[${j}] ${mom.mean[j]} vs exact ${e.mean}`,
    );
    assert.ok(
      Math.abs((mom.std[j] as number) - e.std) < 5 * seS,
      `${what}: std[${j}] ${mom.std[j]} vs exact ${e.std}`,
    );
  }
}

/**
 * Transport check: exact (float64) moments of the chain against the data's m and s. The final
 * step outputs E[x | z_tmin], whose std is s * sqrt(SNR s^2 / (SNR s^2 + 1)) < s, and coarse grids
 * add discretisation error, so the stated tolerance depends on the sampler (see each test).
 */
function checkTransport(
  exact: (j: number) => { mean: number; std: number },
  tolMean: number,
  tolStdRel: number,
  what: string,
): string {
  const out: string[] = [];
  for (let j = 0; j < 4; j++) {
    const e = exact(j);
    const m = DATA.mean[j] as number;
    assert.ok(
      Math.abs(e.mean - m) < tolMean,
      `${what}: exact mean[${j}] ${e.mean} vs m ${m} (tol ${tolMean})`,
    );
    assert.ok(
      Math.abs(e.std / DATA.std - 1) < tolStdRel,
      `${what}: exact std ${e.std} vs s ${DATA.std} (rel tol ${tolStdRel})`,
    );
    out.push(`${e.mean.toFixed(4)}/${e.std.toFixed(4)}`);
  }
  return out.join(' ');
}

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] DDIM eta=0, 100 steps, VP scaled-linear: samples match the float64 chain; moments match its exact moments and m, s`, async () => {
    await useBackend(backend);
    const before = tf.memory().numTensors;
    const schedule = vpDiscrete();
    const times = samplerTimes(schedule, 100);
    assert.equal(times[0], 999);
    // Start from the exact marginal q(z_999) so that only the sampler's own error remains.
    const lt = schedule.level(999);
    const rng = new Rng(1);
    const init = new Float32Array(N);
    for (let i = 0; i < N; i++) {
      const m = DATA.mean[i % 4] as number;
      init[i] = lt.alpha * m + Math.sqrt(lt.alpha ** 2 * DATA.std ** 2 + lt.sigma ** 2) * rng.normal();
    }
    const initT = tf.tensor4d(init, [BATCH, 2, 2, 1]);
    let calls = 0;
    let steps = 0;
    const out = sampleDdim(gaussianDenoiser(DATA, schedule, 'eps'), {
      steps: 100,
      eta: 0,
      rng,
      init: initT,
      onNetworkCall: () => calls++,
      onStep: ({ step, total }) => {
        steps = step;
        assert.equal(total, 100);
      },
    });
    const values = (await out.data()) as Float32Array;
    out.dispose();
    initT.dispose();
    assert.equal(calls, 100);
    assert.equal(steps, 100);
    const ref = Array.from(init, (z, i) => ddimChain((t) => schedule.alphaBar(t), times, z, i % 4));
    const err = maxAbsDiff(values, ref);
    assert.ok(err < 2e-4, `max |tfjs - float64 chain| = ${err}`);
    const start = (j: number): { mean: number; variance: number } => ({
      mean: lt.alpha * (DATA.mean[j] as number),
      variance: lt.alpha ** 2 * DATA.std ** 2 + lt.sigma ** 2,
    });
    const exact = (j: number): { mean: number; std: number } =>
      ddimMoments((t) => schedule.alphaBar(t), times, 0, DATA.mean[j] as number, start(j));
    checkAgainst(values, exact, 'ddim eta=0');
    // Exact std 0.2794 for s = 0.3: -4.5% from the final x0 step at t = 9, the rest discretisation.
    const report = checkTransport(exact, 1e-3, 0.08, 'ddim eta=0, 100 steps');
    // With 1000 steps the same chain is within 1% of s (float64 only: too slow for the cpu backend).
    checkTransport(
      (j) =>
        ddimMoments(
          (t) => schedule.alphaBar(t),
          samplerTimes(schedule, 1000),
          0,
          DATA.mean[j] as number,
          start(j),
        ),
      1e-3,
      0.01,
      'ddim eta=0, 1000 steps',
    );
    console.log(
      `  ddim eta=0 [${backend}] exact mean/std per element: ${report}; max err vs float64 ${err.toExponential(2)}`,
    );
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
  });

  test(`[${backend}] DDIM eta=1 (ancestral), 50 steps from N(0, I): moments match the float64 moment recursion`, async () => {
    await useBackend(backend);
    const schedule = vpDiscrete();
    const times = samplerTimes(schedule, 50);
    const out = sampleDdim(gaussianDenoiser(DATA, schedule, 'v'), {
      steps: 50,
      eta: 1,
      rng: new Rng(2),
      shape: [BATCH, 2, 2, 1],
    });
    const values = (await out.data()) as Float32Array;
    out.dispose();
    const exact = (j: number): { mean: number; std: number } =>
      ddimMoments((t) => schedule.alphaBar(t), times, 1, DATA.mean[j] as number, { mean: 0, variance: 1 });
    checkAgainst(values, exact, 'ddim eta=1');
    // Ancestral sampling with the posterior MEAN as x_hat loses variance on coarse grids (the step's
    // variance ignores the uncertainty of x given z_t): exact std 0.252 for s = 0.3 at 50 steps
    // (0.294 at 1000). The mean is transported correctly.
    checkTransport(exact, 5e-3, 0.17, 'ddim eta=1, 50 steps');
  });

  test(`[${backend}] EDM Heun, 18 steps (35 calls): samples match float64 Algorithm 1; moments match its exact moments and m, s`, async () => {
    await useBackend(backend);
    const before = tf.memory().numTensors;
    const schedule = edm();
    const sigmas = schedule.sigmas(18);
    let calls = 0;
    const out = sampleEdm(gaussianDenoiser(DATA, schedule), {
      rng: new Rng(3),
      shape: [BATCH, 2, 2, 1],
      onNetworkCall: () => calls++,
    });
    const values = (await out.data()) as Float32Array;
    out.dispose();
    assert.equal(calls, 35);
    const noise = new Rng(3).normalArray(N);
    const ref = Array.from(noise, (e, i) => heunChain(sigmas, 80 * e, i % 4));
    const err = maxAbsDiff(values, ref);
    assert.ok(err < 2e-3, `max |tfjs - float64 Algorithm 1| = ${err}`);
    const exact = (j: number): { mean: number; std: number } =>
      edmMoments(sigmas, DATA.mean[j] as number, { mean: 0, variance: 80 * 80 });
    checkAgainst(values, exact, 'edm heun');
    // Exact: mean within 0.002 of m (start N(0, 80^2) instead of N(m, s^2 + 80^2)), std 0.319 (+6.5%).
    const report = checkTransport(exact, 3e-3, 0.07, 'edm heun 18 steps');
    console.log(
      `  edm heun [${backend}] mean/std per element: ${report}; max err vs float64 ${err.toExponential(2)}`,
    );
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
  });

  test(`[${backend}] EDM with churn (Algorithm 2) matches its float64 moments; Euler 100 steps is near N(m, s^2); abort stops cleanly`, async () => {
    await useBackend(backend);
    const before = tf.memory().numTensors;
    const schedule = edm();
    const churn = sampleEdm(gaussianDenoiser(DATA, schedule), {
      rng: new Rng(4),
      shape: [BATCH, 2, 2, 1],
      sChurn: 40,
      sTmin: 0.05,
      sTmax: 50,
      sNoise: 1.003,
    });
    const churnOpts = { sChurn: 40, sTmin: 0.05, sTmax: 50, sNoise: 1.003 };
    const exactChurn = (j: number): { mean: number; std: number } =>
      edmMoments(schedule.sigmas(18), DATA.mean[j] as number, { mean: 0, variance: 80 * 80 }, churnOpts);
    checkAgainst((await churn.data()) as Float32Array, exactChurn, 'edm churn');
    churn.dispose();
    // 18 churned steps overshoot: exact std 0.343 for s = 0.3 (0.305 with 100 steps).
    checkTransport(exactChurn, 3e-3, 0.15, 'edm churn 18 steps');
    let calls = 0;
    const euler = sampleEdm(gaussianDenoiser(DATA, schedule), {
      rng: new Rng(5),
      shape: [BATCH, 2, 2, 1],
      solver: 'euler',
      steps: 100,
      onNetworkCall: () => calls++,
    });
    assert.equal(calls, 100);
    const exactEuler = (j: number): { mean: number; std: number } =>
      edmMoments(
        schedule.sigmas(100),
        DATA.mean[j] as number,
        { mean: 0, variance: 80 * 80 },
        undefined,
        'euler',
      );
    checkAgainst((await euler.data()) as Float32Array, exactEuler, 'edm euler');
    // Exact std 0.291 (-3%): Euler's first-order error.
    checkTransport(exactEuler, 3e-3, 0.04, 'edm euler 100 steps');
    euler.dispose();

    const ac = new AbortController();
    let seen = 0;
    assert.throws(
      () =>
        sampleEdm(gaussianDenoiser(DATA, schedule), {
          rng: new Rng(6),
          shape: [4, 2, 2, 1],
          signal: ac.signal,
          onStep: ({ step }) => {
            seen = step;
            if (step === 3) ac.abort();
          },
        }),
      (e: unknown) => e instanceof Error && e.name === 'AbortError',
    );
    assert.equal(seen, 3);
    const ac2 = new AbortController();
    ac2.abort();
    assert.throws(
      () =>
        sampleDdim(gaussianDenoiser(DATA, vpDiscrete()), { rng: new Rng(7), steps: 5, signal: ac2.signal }),
      (e: unknown) => e instanceof Error && e.name === 'AbortError',
    );
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked after aborts');
  });
}

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] sampleEdm on a VE schedule (t <-> sigma through the schedule) matches float64 Algorithm 1`, async () => {
    await useBackend(backend);
    const schedule = ve({ sigmaMin: 0.002, sigmaMax: 80 });
    const sigmas = edm().sigmas(18);
    const out = sampleEdm(gaussianDenoiser(DATA, schedule, 'eps'), {
      rng: new Rng(8),
      shape: [200, 2, 2, 1],
    });
    const values = await out.data();
    out.dispose();
    const noise = new Rng(8).normalArray(800);
    const ref = Array.from(noise, (e, i) => heunChain(sigmas, 80 * e, i % 4));
    const err = maxAbsDiff(values, ref);
    assert.ok(err < 2e-3, `max |tfjs - float64| = ${err}`);
  });

  test(`[${backend}] sampleDdim with labels and guidance: class-conditional Gaussian data, one call per step`, async () => {
    await useBackend(backend);
    const schedule = vpDiscrete();
    // Class c has mean DATA.mean + c; the null class (2) the average of classes 0 and 1.
    const classMean = (c: number): number[] => DATA.mean.map((m) => m + (c === 2 ? 0.5 : c));
    const base = gaussianDenoiser(DATA, schedule, 'eps');
    const byClass = [0, 1, 2].map((c) => gaussianDenoiser({ ...DATA, mean: classMean(c) }, schedule, 'eps'));
    const conditional = {
      ...base,
      numClasses: 2,
      predictEps: (z: tf.Tensor4D, t: number | tf.Tensor1D, labels?: tf.Tensor1D): tf.Tensor4D =>
        tf.tidy(() => {
          if (!labels) throw new Error('labels expected');
          const l = Array.from(labels.dataSync());
          const rows = l.map((c, b) =>
            (byClass[c] as (typeof byClass)[number]).predictEps(
              tf.slice(z, [b, 0, 0, 0], [1, 2, 2, 1]),
              t as number,
            ),
          );
          return tf.concat(rows, 0) as tf.Tensor4D;
        }),
    };
    let calls = 0;
    const labels = [0, 1, 1, 0];
    const out = sampleDdim(conditional, {
      rng: new Rng(10),
      steps: 20,
      shape: [4, 2, 2, 1],
      labels,
      guidanceScale: 1,
      onNetworkCall: () => calls++,
    });
    assert.equal(calls, 20);
    // Deterministic DDIM: each sample equals the float64 chain of its own class from the same noise.
    const values = await out.data();
    out.dispose();
    const noise = new Rng(10).normalArray(16);
    const times = samplerTimes(schedule, 20);
    const ref: number[] = [];
    noise.forEach((z, i) => {
      const c = labels[Math.floor(i / 4)] as number;
      const shifted: GaussianData = { ...DATA, mean: classMean(c) };
      let zz = z;
      for (let k = 0; k < times.length; k++) {
        const aT = schedule.alphaBar(times[k] as number);
        const aS = k + 1 < times.length ? schedule.alphaBar(times[k + 1] as number) : 1;
        const x0 = exactX0(shifted, i % 4, zz, { alpha: Math.sqrt(aT), sigma: Math.sqrt(1 - aT) });
        const eps = (zz - Math.sqrt(aT) * x0) / Math.sqrt(1 - aT);
        zz = Math.sqrt(aS) * x0 + Math.sqrt(1 - aS) * eps;
      }
      ref.push(zz);
    });
    assert.ok(
      maxAbsDiff(values, ref) < 2e-4,
      `guided (w = 1) sampling vs float64: ${maxAbsDiff(values, ref)}`,
    );
    assert.throws(
      () => sampleDdim(conditional, { rng: new Rng(1), steps: 2, guidanceScale: 3 }),
      /no class labels/,
    );
  });
}

test('samplerTimes: trailing, compvis and linspace spacings; continuous schedules', () => {
  const s = vpDiscrete();
  assert.deepEqual(samplerTimes(s, 5), [999, 799, 599, 399, 199]);
  assert.deepEqual(samplerTimes(s, 4, { spacing: 'compvis' }), [751, 501, 251, 1]);
  // CompVis: range(0, 1000, 33) + 1 has 31 entries for 30 steps.
  const cv = samplerTimes(s, 30, { spacing: 'compvis' });
  assert.equal(cv.length, 31);
  assert.equal(cv[0], 991);
  assert.equal(cv[30], 1);
  assert.deepEqual(samplerTimes(s, 3, { spacing: 'linspace', from: 400 }), [400, 200, 0]);
  assert.deepEqual(samplerTimes(s, 4, { from: 399 }), [399, 299, 199, 99]);
  assert.throws(() => samplerTimes(s, 500, { from: 10 }), /do not fit/);
  const e = edm();
  const ct = samplerTimes(e, 3);
  assert.equal(ct.length, 3);
  [80, 40.001, 0.002].forEach((v, i) => assert.ok(Math.abs((ct[i] as number) - v) < 1e-12, `edm time ${i}`));
});
