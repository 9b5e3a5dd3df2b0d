/**
 * The VIPaint objective on a Gaussian data prior (exact denoiser in closed form) against an
 * independent float64 implementation written here from the formulas (METHOD.md sections 1-3):
 * the likelihood, the closed-form KL terms (correct and the authors' variant), the prior term,
 * the total; its gradient against float64 central differences; the prior-term estimator's
 * unbiasedness against the exact sum over all transitions on a 20-step schedule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend, relErr } from '../helpers/backends.js';
import { InpaintOperator } from '../../src/physics/inpaint.js';
import { edm, vpDiscrete, type NoiseSchedule } from '../../src/schedules/index.js';
import { laplaceNll } from '../../src/solvers/likelihood.js';
import { pixelPrior } from '../../src/solvers/prior.js';
import {
  drawPrior,
  priorGrid,
  priorTerm,
  resolveVipaintConfig,
  vipaintObjective,
  type KlVariant,
  type VipaintConfig,
} from '../../src/solvers/vipaint/index.js';
import { Rng } from '../../src/util/random.js';
import { gaussianDenoiser, type GaussianData } from '../sampling/gaussian-prior.js';

const D = 4;
const DATA: GaussianData = { mean: [0.3, -0.2, 0.1, 0.5], std: 0.6, shape: [2, 2, 1] };
const MASK = [1, 0, 1, 1];
const Y = [0.4, 0, -0.5, 0.2];
const B_LAP = 0.2;

interface Level {
  a: number;
  s: number;
}

/** E[x | z] for Gaussian data, element j. */
function xhat(j: number, z: number, l: Level): number {
  const m = DATA.mean[j] as number;
  const s2 = DATA.std * DATA.std;
  return m + ((l.a * s2) / (l.a * l.a * s2 + l.s * l.s)) * (z - l.a * m);
}

function lev(schedule: NoiseSchedule, t: number): Level {
  return { a: schedule.alpha(t), s: schedule.sigma(t) };
}

interface Flat {
  mu: number[]; // K*D
  lt: number[]; // K*D (log tau^2)
  gl: number[]; // K-1 ('keypoint') or (K-1)*D ('element')
}

interface Noise {
  top: number[]; // B*D
  steps: number[][]; // (K-1) x B*D
  eps: number[]; // B*D
  t: number[];
  s: number[];
  count: number;
}

/** float64 per-sample parts of the objective ('paper' parametrisation, DDIM prior steps, eta on the variance). */
function reference(
  schedule: NoiseSchedule,
  config: VipaintConfig,
  p: Flat,
  n: Noise,
  batch: number,
  beta: number,
  variant: KlVariant,
  topEntropy: boolean,
): { total: number[]; lik: number[]; kl: number[]; prior: number[] } {
  const kp = config.keypoints;
  const out = { total: [] as number[], lik: [] as number[], kl: [] as number[], prior: [] as number[] };
  for (let b = 0; b < batch; b++) {
    const authors = config.parametrisation === 'authors';
    let z = Array.from({ length: D }, (_, j) => {
      const tau2 = Math.exp(p.lt[j] as number);
      const scale = authors && schedule.kind === 'vp' ? Math.sqrt(Math.max(1 - tau2, 1e-6)) : 1;
      return scale * (p.mu[j] as number) + Math.sqrt(tau2) * (n.top[b * D + j] as number);
    });
    const zTe = [...z];
    let kl = 0;
    for (let i = 1; i < kp.length; i++) {
      const lt = lev(schedule, kp[i - 1] as number);
      const ls = lev(schedule, kp[i] as number);
      const s2ts = lt.s * lt.s - ((lt.a / ls.a) * ls.s) ** 2;
      const pv = (ls.s * ls.s * s2ts) / (lt.s * lt.s);
      // DDIM (eta on the variance) or ancestral (eta = 1) prior step.
      const sp = Math.sqrt((config.priorStep === 'ddim' ? config.eta : 1) * pv);
      z = z.map((zv, j) => {
        const gl = config.gammaShape === 'keypoint' ? p.gl[i - 1] : p.gl[(i - 1) * D + j];
        const g = 1 / (1 + Math.exp(-(gl as number)));
        const x = xhat(j, zv, lt);
        const zbar =
          config.priorStep === 'ddim'
            ? ls.a * x + Math.sqrt(ls.s * ls.s - sp * sp) * ((zv - lt.a * x) / lt.s)
            : (((lt.a / ls.a) * ls.s * ls.s) / (lt.s * lt.s)) * zv + ((ls.a * s2ts) / (lt.s * lt.s)) * x;
        const anchor = (authors ? ls.a : 1) * (p.mu[i * D + j] as number);
        const qm = g * zbar + (1 - g) * anchor;
        const lt2 = p.lt[i * D + j] as number;
        const meanTerm =
          variant === 'authors' ? ((sp * sp) / 2) * (qm - zbar) ** 2 : (qm - zbar) ** 2 / (2 * sp * sp);
        kl += Math.log(sp) - 0.5 * lt2 + Math.exp(lt2) / (2 * sp * sp) + meanTerm - 0.5;
        return qm + Math.exp(0.5 * lt2) * (n.steps[i - 1]?.[b * D + j] as number);
      });
    }
    const lTs = lev(schedule, kp[kp.length - 1] as number);
    let lik = 0;
    z.forEach((zv, j) => {
      if (MASK[j]) lik += Math.abs((Y[j] as number) - xhat(j, zv, lTs)) / B_LAP;
    });
    // Prior term: zhat = (z_t - (sigma_{t|Te}^2 / sigma_t) eps_hat) / alpha_{t|Te}; weight (1/2) dSNR'.
    const lTe = lev(schedule, kp[0] as number);
    const rel = (t: number): Level => {
      const l = lev(schedule, t);
      const a = l.a / lTe.a;
      return { a, s: Math.sqrt(l.s * l.s - a * a * lTe.s * lTe.s) };
    };
    const rt = rel(n.t[b] as number);
    const rs = rel(n.s[b] as number);
    const lt = lev(schedule, n.t[b] as number);
    const dSnr = (rs.a * rs.a) / (rs.s * rs.s) - (rt.a * rt.a) / (rt.s * rt.s);
    const weight = variant === 'authors' ? NaN : 0.5 * dSnr;
    let sq = 0;
    zTe.forEach((zv, j) => {
      const zt = rt.a * zv + rt.s * (n.eps[b * D + j] as number);
      const x = xhat(j, zt, lt);
      const epsHat = (zt - lt.a * x) / lt.s;
      const zhat = (zt - ((rt.s * rt.s) / lt.s) * epsHat) / rt.a;
      sq += (zv - zhat) ** 2;
    });
    let prior = weight * sq * n.count;
    if (variant === 'authors') {
      // c = alpha_{s|Te} sigma_{t|s}^2 / sigma_{t|Te}^2, v = sigma_{t|s}^2 sigma_{s|Te}^2 / sigma_{t|Te}^2.
      const ats = rt.a / rs.a;
      const s2ts = rt.s * rt.s - ats * ats * rs.s * rs.s;
      const c = (rs.a * s2ts) / (rt.s * rt.s);
      const v = (s2ts * rs.s * rs.s) / (rt.s * rt.s);
      prior = ((c * c * v) / 2) * sq * n.count;
    }
    if (topEntropy) for (let j = 0; j < D; j++) prior -= 0.5 * (p.lt[j] as number);
    out.lik.push(lik);
    out.kl.push(kl);
    out.prior.push(prior);
    out.total.push(lik + beta * (kl + prior));
  }
  return out;
}

function setup(schedule: NoiseSchedule = vpDiscrete()): {
  schedule: NoiseSchedule;
  prior: ReturnType<typeof pixelPrior>;
  op: InpaintOperator;
} {
  const prior = pixelPrior(gaussianDenoiser(DATA, schedule, 'eps'));
  const mask = tf.tensor4d(MASK, [1, 2, 2, 1]);
  const y = tf.tensor4d(Y, [1, 2, 2, 1]);
  const op = InpaintOperator.fromObservation(mask, y, {});
  tf.dispose([mask, y]);
  return { schedule, prior, op };
}

function randomParams(rng: Rng, k: number, config: VipaintConfig): Flat {
  const ng = config.gammaShape === 'keypoint' ? k - 1 : (k - 1) * D;
  return {
    mu: Array.from(rng.normalArray(k * D), (v) => 0.5 * v),
    lt: Array.from(rng.normalArray(k * D), (v) => -1.5 + 0.3 * v),
    gl: Array.from(rng.normalArray(ng), (v) => 1 + v),
  };
}

function tensorsOf(
  p: Flat,
  k: number,
  config: VipaintConfig,
): { mu: tf.Tensor4D; logTau2: tf.Tensor4D; gammaLogit: tf.Tensor } {
  return {
    mu: tf.tensor4d(p.mu, [k, 2, 2, 1]),
    logTau2: tf.tensor4d(p.lt, [k, 2, 2, 1]),
    gammaLogit: config.gammaShape === 'keypoint' ? tf.tensor1d(p.gl) : tf.tensor4d(p.gl, [k - 1, 2, 2, 1]),
  };
}

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] objective parts (likelihood, KL terms, prior term, total) match float64: both KL variants, per-element and per-keypoint gamma, with and without the top entropy, paper and authors parametrisations, VP (DDIM) and EDM (ancestral), K = 2 and 3`, async () => {
    await useBackend(backend);
    const vp = setup();
    const before = tf.memory().numTensors;
    const rng = new Rng(11);
    const batch = 3;
    const cases = [
      { keypoints: [550, 400], variant: 'correct', gammaShape: 'element', topEntropy: true, par: 'paper' },
      { keypoints: [550, 400], variant: 'authors', gammaShape: 'keypoint', topEntropy: false, par: 'paper' },
      {
        keypoints: [550, 480, 400],
        variant: 'correct',
        gammaShape: 'keypoint',
        topEntropy: true,
        par: 'authors',
      },
      {
        keypoints: [550, 480, 400],
        variant: 'authors',
        gammaShape: 'element',
        topEntropy: true,
        par: 'paper',
      },
      // EDM: ancestral prior steps, rho-spaced prior grid, EDM-preconditioned network.
      {
        keypoints: [5, 3.5, 2],
        variant: 'correct',
        gammaShape: 'element',
        topEntropy: true,
        par: 'paper',
        edm: true,
      },
      {
        keypoints: [5, 2],
        variant: 'correct',
        gammaShape: 'keypoint',
        topEntropy: false,
        par: 'authors',
        edm: true,
      },
    ] as const;
    const edmSetup = setup(edm());
    for (const c of cases) {
      const { keypoints, variant, gammaShape, topEntropy } = c;
      const { schedule, prior, op } = 'edm' in c ? edmSetup : vp;
      const k = keypoints.length;
      const grid = priorGrid(schedule, keypoints[0]);
      assert.equal(grid.length, 'edm' in c ? 1000 : 1000 - 550);
      {
        const config = resolveVipaintConfig(schedule, {
          keypoints: [...keypoints],
          eta: 0.3,
          gammaShape,
          parametrisation: c.par,
        });
        assert.equal(config.priorStep, 'edm' in c ? 'ancestral' : 'ddim');
        const p = randomParams(rng, k, config);
        const noise: Noise = {
          top: Array.from(rng.normalArray(batch * D)),
          steps: Array.from({ length: k - 1 }, () => Array.from(rng.normalArray(batch * D))),
          eps: Array.from(rng.normalArray(batch * D)),
          ...drawPriorTimesFor(grid, batch, rng),
        };
        const ref = reference(schedule, config, p, noise, batch, 2.5, variant, topEntropy);
        tf.tidy(() => {
          const params = tensorsOf(p, k, config);
          const draws = {
            hierarchy: {
              top: tf.tensor4d(noise.top, [batch, 2, 2, 1]),
              steps: noise.steps.map((s) => tf.tensor4d(s, [batch, 2, 2, 1])),
            },
            prior: {
              t: noise.t,
              s: noise.s,
              count: noise.count,
              eps: tf.tensor4d(noise.eps, [batch, 2, 2, 1]),
            },
          };
          const o = vipaintObjective(prior, prior.denoiser, config, params, draws, {
            likelihood: (x) => laplaceNll(op, x, B_LAP),
            beta: 2.5,
            klVariant: variant,
            topEntropy,
          });
          const tag = `${schedule.kind} K=${k} ${variant} ${gammaShape} ${c.par} entropy=${topEntropy}`;
          assert.ok(
            relErr(o.likelihood.dataSync(), ref.lik) < 1e-4,
            `${tag} likelihood ${o.likelihood.dataSync()} vs ${ref.lik}`,
          );
          assert.ok(relErr(o.kl.dataSync(), ref.kl) < 1e-4, `${tag} kl ${o.kl.dataSync()} vs ${ref.kl}`);
          assert.ok(
            relErr(o.prior.dataSync(), ref.prior) < 1e-4,
            `${tag} prior ${o.prior.dataSync()} vs ${ref.prior}`,
          );
          assert.ok(
            relErr(o.total.dataSync(), ref.total) < 1e-4,
            `${tag} total ${o.total.dataSync()} vs ${ref.total}`,
          );
        });
      }
    }
    edmSetup.op.dispose();
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
    vp.op.dispose();
  });

  test(`[${backend}] objective gradient (mu, log tau^2, logit gamma) matches float64 central differences`, async () => {
    await useBackend(backend);
    const { schedule, prior, op } = setup();
    const before = tf.memory().numTensors;
    const rng = new Rng(5);
    const batch = 2;
    const config = resolveVipaintConfig(schedule, { keypoints: [550, 480, 400], eta: 0.3 });
    const k = 3;
    const grid = priorGrid(schedule, 550);
    const p = randomParams(rng, k, config);
    const noise: Noise = {
      top: Array.from(rng.normalArray(batch * D)),
      steps: Array.from({ length: k - 1 }, () => Array.from(rng.normalArray(batch * D))),
      eps: Array.from(rng.normalArray(batch * D)),
      ...drawPriorTimesFor(grid, batch, rng),
    };
    const meanTotal = (q: Flat): number => {
      const r = reference(schedule, config, q, noise, batch, 1, 'correct', true);
      return r.total.reduce((a, v) => a + v, 0) / batch;
    };
    const { mu, logTau2, gammaLogit } = tensorsOf(p, k, config);
    const draws = {
      hierarchy: {
        top: tf.tensor4d(noise.top, [batch, 2, 2, 1]),
        steps: noise.steps.map((s) => tf.tensor4d(s, [batch, 2, 2, 1])),
      },
      prior: { t: noise.t, s: noise.s, count: noise.count, eps: tf.tensor4d(noise.eps, [batch, 2, 2, 1]) },
    };
    const grads = tf.grads((m: tf.Tensor, l: tf.Tensor, g: tf.Tensor) => {
      const o = vipaintObjective(
        prior,
        prior.denoiser,
        config,
        { mu: m as tf.Tensor4D, logTau2: l as tf.Tensor4D, gammaLogit: g },
        draws,
        { likelihood: (x) => laplaceNll(op, x, B_LAP) },
      );
      return tf.mean(o.total) as tf.Scalar;
    })([mu, logTau2, gammaLogit]);
    const h = 1e-6;
    const fd = (key: keyof Flat): number[] =>
      p[key].map((_, i) => {
        const plus = { mu: [...p.mu], lt: [...p.lt], gl: [...p.gl] };
        const minus = { mu: [...p.mu], lt: [...p.lt], gl: [...p.gl] };
        plus[key][i] = (plus[key][i] as number) + h;
        minus[key][i] = (minus[key][i] as number) - h;
        return (meanTotal(plus) - meanTotal(minus)) / (2 * h);
      });
    const names = ['mu', 'log tau^2', 'logit gamma'];
    (['mu', 'lt', 'gl'] as const).forEach((key, i) => {
      const got = (grads[i] as tf.Tensor).dataSync();
      const want = fd(key);
      const err = relErr(got, want);
      assert.ok(err < 2e-3, `${names[i]}: relative error ${err}\n got ${Array.from(got)}\n want ${want}`);
    });
    tf.dispose([
      ...grads,
      mu,
      logTau2,
      gammaLogit,
      draws.hierarchy.top,
      ...draws.hierarchy.steps,
      draws.prior.eps,
    ]);
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
    op.dispose();
  });

  test(`[${backend}] prior-term estimator is unbiased: mean over random times = exact sum over all transitions (20-step schedule)`, async () => {
    await useBackend(backend);
    const schedule = vpDiscrete({ numSteps: 20, betaSchedule: 'linear', betaStart: 0.01, betaEnd: 0.3 });
    const denoiser = gaussianDenoiser(DATA, schedule, 'eps');
    const te = 8;
    const grid = priorGrid(schedule, te);
    assert.deepEqual(grid, [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    const zTe = [0.4, -1.1, 0.7, 0.2];
    // Exact: sum over j = 2..11 of (1/2) dSNR' E_eps ||z_Te - zhat||^2, zhat linear in (z_Te, eps).
    const lTe = lev(schedule, te);
    const rel = (t: number): Level => {
      const l = lev(schedule, t);
      const a = l.a / lTe.a;
      return { a, s: Math.sqrt(l.s * l.s - a * a * lTe.s * lTe.s) };
    };
    let exact = 0;
    for (let j = 2; j < grid.length; j++) {
      const t = grid[j] as number;
      const s = grid[j - 1] as number;
      const rt = rel(t);
      const rs = rel(s);
      const lt = lev(schedule, t);
      const w = 0.5 * ((rs.a * rs.a) / (rs.s * rs.s) - (rt.a * rt.a) / (rt.s * rt.s));
      const zhat = (zv: number, j2: number, e: number): number => {
        const zt = rt.a * zv + rt.s * e;
        const x = xhat(j2, zt, lt);
        return (zt - ((rt.s * rt.s) / lt.s) * ((zt - lt.a * x) / lt.s)) / rt.a;
      };
      zTe.forEach((zv, j2) => {
        const r0 = zhat(zv, j2, 0) - zv;
        const c = zhat(zv, j2, 1) - zhat(zv, j2, 0);
        exact += w * (r0 * r0 + c * c);
      });
    }
    const before = tf.memory().numTensors;
    const batch = 4000;
    for (const stratified of [false, true]) {
      const rng = new Rng(stratified ? 21 : 22);
      const draw = drawPrior(grid, [batch, 2, 2, 1], rng, stratified);
      const values = tf.tidy(() => {
        const z = tf.tile(tf.tensor4d(zTe, [1, 2, 2, 1]), [batch, 1, 1, 1]) as tf.Tensor4D;
        return Array.from(priorTerm(denoiser, te, z, draw).dataSync());
      });
      draw.eps.dispose();
      const mean = values.reduce((a, v) => a + v, 0) / batch;
      const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (batch - 1));
      const se = sd / Math.sqrt(batch);
      assert.ok(
        Math.abs(mean - exact) < 4 * se,
        `stratified=${stratified}: MC mean ${mean} vs exact ${exact} (standard error ${se})`,
      );
      // Every transition gets drawn, each about equally often.
      const counts = new Map<number, number>();
      draw.t.forEach((t) => counts.set(t, (counts.get(t) ?? 0) + 1));
      assert.equal(counts.size, 10);
      for (const c of counts.values()) assert.ok(Math.abs(c - batch / 10) < 0.15 * (batch / 10));
    }
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
  });
}

function drawPriorTimesFor(
  grid: number[],
  batch: number,
  rng: Rng,
): { t: number[]; s: number[]; count: number } {
  const d = drawPrior(grid, [batch, 1, 1, 1], rng);
  d.eps.dispose();
  return { t: d.t, s: d.s, count: d.count };
}
