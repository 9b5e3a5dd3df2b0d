/**
 * Schedules against independent references: METHOD.md's published numbers, a PyTorch float64
 * fixture made the way CompVis / diffusers / NVlabs compute them (scripts/fixtures/schedules.py),
 * and closed forms written out here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  CLEAN,
  createSchedule,
  edm,
  edmPreconditioning,
  posteriorBetween,
  ve,
  vpContinuous,
  vpDiscrete,
  type NoiseSchedule,
} from '../../src/schedules/index.js';

interface Fixture {
  indices: number[];
  scaled_linear: number[];
  linear: number[];
  cosine: number[];
  cosine_betas: number[];
  scaled_linear_100: { indices: number[]; abar: number[] };
  vp_linear_continuous: { t: number[]; alpha: number[] };
  edm_steps_18: number[];
  edm_precond: { sigma: number; c_skip: number; c_out: number; c_in: number; c_noise: number }[];
}
const fx = JSON.parse(
  readFileSync(new URL('../fixtures/schedules/schedules.json', import.meta.url), 'utf8'),
) as Fixture;

function close(a: number, b: number, rel: number, what: string): void {
  assert.ok(Math.abs(a - b) <= rel * Math.max(Math.abs(b), 1e-300), `${what}: ${a} vs ${b} (rel tol ${rel})`);
}

test('scaled-linear LDM schedule matches METHOD.md to 4 digits: abar_400 = 0.4245 (SNR 0.738), abar_550 = 0.2139 (SNR 0.272)', () => {
  const s = vpDiscrete();
  assert.equal(s.numSteps, 1000);
  assert.equal(s.alphaBar(400).toFixed(4), '0.4245');
  assert.equal(s.snr(400).toFixed(3), '0.738');
  assert.equal(s.alphaBar(550).toFixed(4), '0.2139');
  assert.equal(s.snr(550).toFixed(3), '0.272');
});

test('vp-discrete abar matches the PyTorch float64 fixture (linear, scaled_linear, cosine; rel 1e-12)', () => {
  const cases: [ReturnType<typeof vpDiscrete>, number[]][] = [
    [vpDiscrete({ betaSchedule: 'scaled_linear' }), fx.scaled_linear],
    [vpDiscrete({ betaSchedule: 'linear' }), fx.linear],
    [vpDiscrete({ betaSchedule: 'cosine' }), fx.cosine],
  ];
  for (const [s, ref] of cases) {
    fx.indices.forEach((t, i) =>
      close(s.alphaBar(t), ref[i] as number, 1e-12, `${JSON.stringify(s.toJSON())} abar[${t}]`),
    );
  }
  const cos = vpDiscrete({ betaSchedule: 'cosine' });
  fx.indices.forEach((t, i) => close(cos.beta(t), fx.cosine_betas[i] as number, 1e-9, `cosine beta[${t}]`));
  assert.equal(cos.beta(999), 0.999, 'cosine betas are clipped at 0.999');
  const short = vpDiscrete({ numSteps: 100, betaStart: 0.0015, betaEnd: 0.0195 });
  fx.scaled_linear_100.indices.forEach((t, i) =>
    close(short.alphaBar(t), fx.scaled_linear_100.abar[i] as number, 1e-12, `100-step abar[${t}]`),
  );
});

test('vp-discrete: CompVis index convention, alpha/sigma, integer times only', () => {
  const s = vpDiscrete();
  close(s.alphaBar(0), 1 - 0.00085, 1e-12, 'abar_0 = 1 - beta_0 (t = 0 is already noisy)');
  close(s.alpha(400) ** 2 + s.sigma(400) ** 2, 1, 1e-14, 'alpha^2 + sigma^2');
  close(s.logSnr(550), Math.log(s.snr(550)), 1e-12, 'logSnr');
  assert.throws(() => s.alpha(3.5), /integer/);
  assert.throws(() => s.alpha(1000), /outside/);
  assert.throws(() => s.alpha(-1), /outside/);
});

test('vp-continuous linear: alpha matches quadrature of beta(t) (rel 1e-9); cosine closed form', () => {
  const s = vpContinuous();
  fx.vp_linear_continuous.t.forEach((t, i) =>
    close(s.alpha(t), fx.vp_linear_continuous.alpha[i] as number, 1e-9, `alpha(${t})`),
  );
  close(s.sigma(0.3) ** 2 + s.alpha(0.3) ** 2, 1, 1e-14, 'alpha^2 + sigma^2');
  const c = vpContinuous({ betaSchedule: 'cosine' });
  const f = (t: number): number => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2));
  close(c.alpha(0.5), f(0.5) / f(0), 1e-13, 'cosine alpha(0.5)');
  // Against the discrete cosine schedule: abar_t (discrete, index t) = f((t+1)/N)^2 / f(0)^2 while no beta is clipped.
  const d = vpDiscrete({ betaSchedule: 'cosine' });
  close(c.alpha(0.5) ** 2, d.alphaBar(499), 1e-9, 'continuous cosine at 0.5 = discrete abar[499]');
});

test('ve: geometric sigma between sigmaMin and sigmaMax, alpha = 1', () => {
  const s = ve({ sigmaMin: 0.01, sigmaMax: 50 });
  close(s.sigma(0), 0.01, 1e-14, 'sigma(0)');
  close(s.sigma(1), 50, 1e-14, 'sigma(1)');
  close(s.sigma(0.5), Math.sqrt(0.01 * 50), 1e-13, 'sigma(0.5) = geometric mean');
  assert.equal(s.alpha(0.7), 1);
  close(s.timeAtSigma(s.sigma(0.37)), 0.37, 1e-12, 'timeAtSigma inverts sigma');
});

test('edm: rho time steps match NVlabs generate.py in float64 (rel 1e-12); preconditioning matches Table 1', () => {
  const s = edm();
  const steps = s.sigmas(18);
  assert.equal(steps.length, 19);
  assert.equal(steps[18], 0);
  steps.forEach((v, i) => close(v, fx.edm_steps_18[i] as number, 1e-12, `sigma_${i}`));
  for (const p of fx.edm_precond) {
    const c = edmPreconditioning(p.sigma);
    close(c.cSkip, p.c_skip, 1e-12, `c_skip(${p.sigma})`);
    close(c.cOut, p.c_out, 1e-12, `c_out(${p.sigma})`);
    close(c.cIn, p.c_in, 1e-12, `c_in(${p.sigma})`);
    close(c.cNoise, p.c_noise, 1e-12, `c_noise(${p.sigma})`);
  }
  // Table 1's design goals, checked from their definitions: with Var[x] = sigma_data^2 the network
  // input c_in z and the training target (x - c_skip z) / c_out both have unit variance.
  for (const sigma of [0.01, 0.5, 3, 80]) {
    const c = edmPreconditioning(sigma, 0.5);
    const targetVar = ((1 - c.cSkip) ** 2 * 0.25 + c.cSkip ** 2 * sigma ** 2) / c.cOut ** 2;
    close(targetVar, 1, 1e-12, `unit-variance training target at sigma ${sigma}`);
    close(c.cIn ** 2 * (0.25 + sigma ** 2), 1, 1e-12, `unit-variance input at sigma ${sigma}`);
  }
  assert.equal(s.sigma(5), 5);
  assert.equal(s.alpha(5), 1);
});

/** float64 reference of the appendix B.1 formulas, written directly from the paper. */
function refPosterior(as: number, ss: number, at: number, st: number): [number, number, number] {
  const ats = at / as;
  const sts2 = st * st - ats * ats * ss * ss;
  return [(ats * ss * ss) / (st * st), (as * sts2) / (st * st), (sts2 * ss * ss) / (st * st)];
}

test('transitions and posteriors: closed forms, DDPM beta-tilde and Ho et al. mean coefficients, clean limit', () => {
  const schedules: [NoiseSchedule, number, number][] = [
    [vpDiscrete(), 400, 550],
    [vpContinuous(), 0.2, 0.6],
    [ve(), 0.3, 0.5],
    [edm(), 2, 5],
  ];
  for (const [s, a, b] of schedules) {
    const tr = s.transition(a, b);
    close(tr.alphaTS, s.alpha(b) / s.alpha(a), 1e-14, 'alpha_{t|s}');
    close(tr.sigmaTS2, s.sigma(b) ** 2 - tr.alphaTS ** 2 * s.sigma(a) ** 2, 1e-12, 'sigma_{t|s}^2');
    const p = s.posterior(a, b);
    const [cz, cx, v] = refPosterior(s.alpha(a), s.sigma(a), s.alpha(b), s.sigma(b));
    close(p.meanCoefZt, cz, 1e-12, 'posterior coef z_t');
    close(p.meanCoefX, cx, 1e-12, 'posterior coef x');
    close(p.variance, v, 1e-12, 'posterior variance');
  }
  // For consecutive DDPM steps the posterior variance is beta-tilde_t = (1 - abar_{t-1})/(1 - abar_t) beta_t.
  const d = vpDiscrete({ betaSchedule: 'linear' });
  for (const t of [1, 10, 500, 999]) {
    const bt = ((1 - d.alphaBar(t - 1)) / (1 - d.alphaBar(t))) * d.beta(t);
    close(d.posterior(t - 1, t).variance, bt, 1e-10, `beta-tilde_${t}`);
    // DDPM's mean coefficients (Ho et al. Eq. 7).
    const cx = (Math.sqrt(d.alphaBar(t - 1)) * d.beta(t)) / (1 - d.alphaBar(t));
    const cz = (Math.sqrt(1 - d.beta(t)) * (1 - d.alphaBar(t - 1))) / (1 - d.alphaBar(t));
    close(d.posterior(t - 1, t).meanCoefX, cx, 1e-10, `DDPM mean coef x_0 at ${t}`);
    close(d.posterior(t - 1, t).meanCoefZt, cz, 1e-10, `DDPM mean coef x_t at ${t}`);
  }
  // Going to the clean level: the posterior is a point mass at x.
  const toClean = posteriorBetween(CLEAN, d.level(3));
  assert.equal(toClean.variance, 0);
  assert.equal(toClean.meanCoefZt, 0);
  close(toClean.meanCoefX, 1, 1e-12, 'clean posterior coef x');
});

test('timeAtLogSnr inverts logSnr; timesBySnr spaces times evenly and errs clearly', () => {
  const d = vpDiscrete();
  assert.equal(d.timeAtLogSnr(d.logSnr(437)), 437);
  const c = vpContinuous();
  close(c.timeAtLogSnr(c.logSnr(0.4321)), 0.4321, 1e-10, 'vp-continuous inversion');
  const e = edm();
  close(e.timeAtLogSnr(Math.log(1 / 9)), 3, 1e-10, 'edm: SNR 1/9 at sigma 3');
  const v = ve();
  close(v.timeAtLogSnr(v.logSnr(0.25)), 0.25, 1e-10, 've inversion');
  assert.throws(() => e.timeAtLogSnr(Math.log(1e-6)), /outside the schedule's range/);

  const ts = d.timesBySnr(0.272, 0.738, 4);
  assert.deepEqual(ts, [550, 500, 450, 400]);
  const es = e.timesBySnr(1 / 25, 1 / 4, 3);
  ts.forEach((t) => assert.ok(Number.isInteger(t)));
  es.forEach((t, i) => close(t, [5, 3.5, 2][i] as number, 1e-9, `edm keypoint ${i}`));
  assert.throws(() => d.timesBySnr(0.27, 0.2721, 5), /do not fit/);
  assert.throws(() => d.timesBySnr(0.5, 0.2, 3), /minSnr < maxSnr/);
  assert.throws(() => d.timesBySnr(0.2, 0.5, 1), /count/);
});

test('toJSON / createSchedule round trip', () => {
  const all: NoiseSchedule[] = [
    vpDiscrete(),
    vpDiscrete({ betaSchedule: 'cosine', numSteps: 500 }),
    vpContinuous(),
    vpContinuous({ betaSchedule: 'cosine' }),
    ve({ sigmaMin: 0.01, sigmaMax: 50 }),
    edm({ sigmaData: 0.6 }),
  ];
  for (const s of all) {
    const json = JSON.parse(JSON.stringify(s)) as ReturnType<NoiseSchedule['toJSON']>;
    const r = createSchedule(json);
    assert.deepEqual(r.toJSON(), s.toJSON());
    const t = s.discrete ? 123 : 0.5 * (s.tMin + s.tMax);
    assert.equal(r.alpha(t), s.alpha(t));
    assert.equal(r.sigma(t), s.sigma(t));
  }
});
