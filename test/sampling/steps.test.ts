/**
 * DDIM and ancestral steps against float64 references written from the original papers
 * (DDIM in abar notation, DDPM Algorithm 2, Song et al.'s VE reverse diffusion), the eta = 1
 * identity with the posterior, and one-step moments on Gaussian data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend, relErr } from '../helpers/backends.js';
import { ddimStep, ddimStepMeanStd } from '../../src/sampling/ddim.js';
import { ancestralStep, ancestralStepMeanStd } from '../../src/sampling/ancestral.js';
import { CLEAN, edm, ve, vpDiscrete, type NoiseSchedule } from '../../src/schedules/index.js';
import { Rng } from '../../src/util/random.js';
import { elementMoments, exactX0, type GaussianData } from './gaussian-prior.js';

function close(a: number, b: number, tol: number, what: string): void {
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
}

/** DDIM (Song et al. 2021a, Eq. 12 and 16) in its own abar notation, float64. */
function refDdim(abarT: number, abarS: number, eta: number, z: number, eps: number, xi: number): number {
  const std = eta * Math.sqrt((1 - abarS) / (1 - abarT)) * Math.sqrt(1 - abarT / abarS);
  const x0 = (z - Math.sqrt(1 - abarT) * eps) / Math.sqrt(abarT);
  return Math.sqrt(abarS) * x0 + Math.sqrt(1 - abarS - std * std) * eps + std * xi;
}

test('ddimStepMeanStd matches DDIM in abar notation (non-consecutive steps), both mean forms agree', () => {
  const s = vpDiscrete();
  for (const [t, u, eta] of [
    [999, 979, 0],
    [550, 500, 0.2],
    [550, 400, 1],
    [21, 1, 0.5],
  ] as const) {
    const c = ddimStepMeanStd(s, t, u, eta);
    const [aT, aS] = [s.alphaBar(t), s.alphaBar(u)];
    close(c.std, eta * Math.sqrt(((1 - aS) / (1 - aT)) * (1 - aT / aS)), 1e-12, `std ${t}->${u}`);
    close(c.alphaS, Math.sqrt(aS), 1e-14, 'alpha_s');
    for (const [z, eps, xi] of [
      [0.3, -1.2, 0.7],
      [-2, 0.4, -0.1],
    ] as const) {
      const x0 = (z - s.sigma(t) * eps) / s.alpha(t);
      const viaZ = c.coefZt * z + c.coefX0 * x0 + c.std * xi;
      const viaEps = c.alphaS * x0 + c.coefEps * eps + c.std * xi;
      close(viaZ, refDdim(aT, aS, eta, z, eps, xi), 1e-12, `DDIM (z, x0) form ${t}->${u}`);
      close(viaEps, refDdim(aT, aS, eta, z, eps, xi), 1e-12, `DDIM (x0, eps) form ${t}->${u}`);
    }
  }
});

test("eta conventions: 'variance' (paper Eq. 23, authors' hierarchy) scales the variance, 'std' (DDIM) the std", () => {
  const s = vpDiscrete();
  const p = s.posterior(500, 550);
  const v = ddimStepMeanStd(s, 550, 500, 0.2, 'variance');
  const d = ddimStepMeanStd(s, 550, 500, 0.2);
  // The authors' h_sigmas: sqrt(eta (1 - abar_s)/(1 - abar_t) (1 - abar_t/abar_s)).
  const [aT, aS] = [s.alphaBar(550), s.alphaBar(500)];
  close(v.std, Math.sqrt(0.2 * ((1 - aS) / (1 - aT)) * (1 - aT / aS)), 1e-12, 'variance convention');
  close(v.std ** 2, 0.2 * p.variance, 1e-12, 'variance = eta * posterior variance');
  close(d.std ** 2, 0.04 * p.variance, 1e-12, 'variance = eta^2 * posterior variance');
  close(v.coefEps, Math.sqrt(1 - aS - v.std ** 2), 1e-12, 'direction coefficient uses the same std');
  for (const eta of [0, 1]) {
    close(
      ddimStepMeanStd(s, 550, 500, eta, 'variance').std,
      ddimStepMeanStd(s, 550, 500, eta).std,
      1e-14,
      `agree at ${eta}`,
    );
  }
});

test('eta = 1: DDIM equals the ancestral posterior step (mean coefficients and variance), VP, VE and EDM', () => {
  const cases: [NoiseSchedule, number, number][] = [
    [vpDiscrete(), 550, 400],
    [vpDiscrete({ betaSchedule: 'linear' }), 10, 9],
    [ve(), 0.6, 0.3],
    [edm(), 5, 2],
  ];
  for (const [s, t, u] of cases) {
    const d = ddimStepMeanStd(s, t, u, 1);
    const a = ancestralStepMeanStd(s, t, u);
    const p = s.posterior(u, t);
    close(d.std ** 2, p.variance, 1e-12, `variance ${t}->${u}`);
    close(a.std ** 2, p.variance, 1e-12, `ancestral variance ${t}->${u}`);
    close(d.coefZt, p.meanCoefZt, 1e-10, `coef z_t ${t}->${u}`);
    close(d.coefX0, p.meanCoefX, 1e-10, `coef x0 ${t}->${u}`);
  }
  // Consecutive DDPM steps: std^2 = beta-tilde_t.
  const lin = vpDiscrete({ betaSchedule: 'linear' });
  const t = 700;
  const bt = ((1 - lin.alphaBar(t - 1)) / (1 - lin.alphaBar(t))) * lin.beta(t);
  close(ddimStepMeanStd(lin, t, t - 1, 1).std ** 2, bt, 1e-12, 'beta-tilde');
  close(ddimStepMeanStd(lin, t, t - 1, 0).std, 0, 0, 'eta = 0 is deterministic');
});

test('step argument errors are clear', () => {
  const s = vpDiscrete();
  assert.throws(() => ddimStepMeanStd(s, 400, 550, 0), /less noisy/);
  assert.throws(() => ddimStepMeanStd(s, 400, 400, 0), /less noisy/);
  assert.throws(() => ddimStepMeanStd(s, 400, 300, -1), /eta/);
  assert.throws(() => ddimStepMeanStd(s, 999, 0, 50), /too large/);
  assert.throws(() => ancestralStepMeanStd(s, CLEAN, CLEAN), /sigma > 0/);
});

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] ddimStep / ancestralStep tensors match float64 references (DDIM, DDPM Alg. 2, VE reverse diffusion)`, async () => {
    await useBackend(backend);
    const before = tf.memory().numTensors;
    const rng = new Rng(5);
    const n = 24;
    const shape = [2, 2, 3, 2];
    const zA = rng.normalArray(n);
    const eA = rng.normalArray(n);
    const xiA = rng.normalArray(n);
    tf.tidy(() => {
      const z = tf.tensor(zA, shape);
      const e = tf.tensor(eA, shape);
      const xi = tf.tensor(xiA, shape);

      const s = vpDiscrete();
      for (const [t, u, eta] of [
        [550, 400, 0.2],
        [999, 949, 1],
        [400, 100, 0],
      ] as const) {
        const out = ddimStep(s, { zt: z, eps: e, t, s: u, eta, noise: xi });
        const ref = zA.map((zv, i) =>
          refDdim(s.alphaBar(t), s.alphaBar(u), eta, zv, eA[i] as number, xiA[i] as number),
        );
        assert.ok(
          relErr(out.dataSync(), ref) < 2e-5,
          `ddim ${t}->${u} eta ${eta}: ${relErr(out.dataSync(), ref)}`,
        );
        // Given x0 instead of eps: the same step.
        const x0 = tf.div(tf.sub(z, tf.mul(e, s.sigma(t))), s.alpha(t));
        const out2 = ddimStep(s, { zt: z, x0, t, s: u, eta, noise: xi });
        assert.ok(relErr(out2.dataSync(), ref) < 2e-5, `ddim via x0 ${t}->${u}`);
      }
      // To the clean level the DDIM step returns x_hat.
      const toClean = ddimStep(s, { zt: z, eps: e, t: 3, s: CLEAN, eta: 0.5 });
      const xhat = zA.map((zv, i) => (zv - s.sigma(3) * (eA[i] as number)) / s.alpha(3));
      assert.ok(relErr(toClean.dataSync(), xhat) < 1e-5, 'ddim to CLEAN');

      // DDPM Algorithm 2 (sigma_t^2 = beta-tilde): x_{t-1} = (x_t - beta/sqrt(1-abar) eps)/sqrt(1-beta) + sqrt(bt) xi.
      const lin = vpDiscrete({ betaSchedule: 'linear' });
      const t = 300;
      const b = lin.beta(t);
      const ab = lin.alphaBar(t);
      const bt = ((1 - lin.alphaBar(t - 1)) / (1 - ab)) * b;
      const ddpm = zA.map(
        (zv, i) =>
          (zv - (b / Math.sqrt(1 - ab)) * (eA[i] as number)) / Math.sqrt(1 - b) +
          Math.sqrt(bt) * (xiA[i] as number),
      );
      const anc = ancestralStep(lin, { zt: z, eps: e, t, s: t - 1, noise: xi });
      assert.ok(
        relErr(anc.dataSync(), ddpm) < 2e-5,
        `ancestral = DDPM Algorithm 2: ${relErr(anc.dataSync(), ddpm)}`,
      );

      // VE reverse diffusion (Song et al. 2021): z_s = z_t - (st^2 - ss^2)/st eps + sqrt((st^2 - ss^2) ss^2/st^2) xi.
      const e5 = edm();
      const [st, ss] = [5, 2];
      const vRef = zA.map(
        (zv, i) =>
          zv -
          ((st * st - ss * ss) / st) * (eA[i] as number) +
          Math.sqrt(((st * st - ss * ss) * ss * ss) / (st * st)) * (xiA[i] as number),
      );
      const vOut = ancestralStep(e5, { zt: z, eps: e, t: st, s: ss, noise: xi });
      assert.ok(
        relErr(vOut.dataSync(), vRef) < 2e-5,
        `ancestral = VE reverse diffusion: ${relErr(vOut.dataSync(), vRef)}`,
      );
      assert.throws(() => ancestralStep(e5, { zt: z, eps: e, t: st, s: ss }), /needs a noise tensor/);
    });
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
  });

  test(`[${backend}] steps are differentiable: d z_s / d z_t matches the closed form`, async () => {
    await useBackend(backend);
    const s = vpDiscrete();
    tf.tidy(() => {
      const z = tf.tensor4d([0.1, -0.4, 0.9, 0.2], [1, 2, 2, 1]);
      const x0 = tf.tensor4d([0.3, 0.1, -0.2, 0.5], [1, 2, 2, 1]);
      const c = ddimStepMeanStd(s, 550, 400, 0.2);
      const g = tf.grad((zt: tf.Tensor) =>
        tf.sum(ddimStep(s, { zt, x0, t: 550, s: 400, eta: 0.2, noise: zt })),
      )(z);
      // With x0 held fixed the step is coefZt z + coefX0 x0 + std * noise, and noise = z here.
      assert.ok(
        relErr(
          g.dataSync(),
          [1, 1, 1, 1].map(() => c.coefZt + c.std),
        ) < 1e-5,
      );
      const a = ancestralStepMeanStd(s, 550, 400);
      const ga = tf.grad((zt: tf.Tensor) => tf.sum(ancestralStep(s, { zt, x0, t: 550, s: 400, noise: x0 })))(
        z,
      );
      assert.ok(
        relErr(
          ga.dataSync(),
          [1, 1, 1, 1].map(() => a.coefZt),
        ) < 1e-5,
      );
    });
  });

  test(`[${backend}] one-step moments on Gaussian data match float64 (DDIM eta 0.2 / ancestral; 4000 samples, 5 SE)`, async () => {
    await useBackend(backend);
    const data: GaussianData = { mean: [0.5, -0.3], std: 0.4, shape: [1, 2, 1] };
    const batch = 4000;
    const s = vpDiscrete();
    const [t, u] = [550, 400];
    const lt = s.level(t);
    const rng = new Rng(21);
    const zArr = new Float32Array(batch * 2);
    const xArr = new Float32Array(batch * 2);
    for (let b = 0; b < batch; b++) {
      for (let j = 0; j < 2; j++) {
        const zt = lt.alpha * ((data.mean[j] as number) + data.std * rng.normal()) + lt.sigma * rng.normal();
        zArr[b * 2 + j] = zt;
        xArr[b * 2 + j] = exactX0(data, j, zt, lt);
      }
    }
    const k = (lt.alpha * data.std ** 2) / (lt.alpha ** 2 * data.std ** 2 + lt.sigma ** 2);
    const varT = lt.alpha ** 2 * data.std ** 2 + lt.sigma ** 2;
    for (const which of ['ddim', 'ancestral'] as const) {
      const c = which === 'ddim' ? ddimStepMeanStd(s, t, u, 0.2) : ancestralStepMeanStd(s, t, u);
      const out = tf.tidy(() => {
        const z = tf.tensor4d(zArr, [batch, 1, 2, 1]);
        const x0 = tf.tensor4d(xArr, [batch, 1, 2, 1]);
        const noise = rng.normalTensor([batch, 1, 2, 1]);
        return which === 'ddim'
          ? ddimStep(s, { zt: z, x0, t, s: u, eta: 0.2, noise })
          : ancestralStep(s, { zt: z, x0, t, s: u, noise });
      });
      const mom = elementMoments((await out.data()) as Float32Array, batch);
      out.dispose();
      // z_s = a z_t + b_j + c xi with a = coefZt + coefX0 k: Gaussian with known moments.
      const a = c.coefZt + c.coefX0 * k;
      for (let j = 0; j < 2; j++) {
        const m = data.mean[j] as number;
        const mean = a * lt.alpha * m + c.coefX0 * (m - k * lt.alpha * m);
        const std = Math.sqrt(a * a * varT + c.std * c.std);
        const seMean = std / Math.sqrt(batch);
        const seStd = std / Math.sqrt(2 * batch);
        assert.ok(
          Math.abs((mom.mean[j] as number) - mean) < 5 * seMean,
          `${which} mean[${j}] ${mom.mean[j]} vs ${mean}`,
        );
        assert.ok(
          Math.abs((mom.std[j] as number) - std) < 5 * seStd,
          `${which} std[${j}] ${mom.std[j]} vs ${std}`,
        );
      }
    }
  });
}
