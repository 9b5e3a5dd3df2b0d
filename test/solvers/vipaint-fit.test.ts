/**
 * VIPaint end to end on a Gaussian data prior (exact denoiser, data N(m, s^2) per pixel) with an
 * inpainting operator: the fit lowers the loss, posterior samples match y on observed pixels and
 * the prior's conditional mean (m: pixels are independent) on missing ones, refinement lowers the
 * residual, calls are counted, NaN stops the fit naming the iteration and term, bad input is
 * refused, no tensor leaks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import { InpaintOperator } from '../../src/physics/inpaint.js';
import { vpDiscrete } from '../../src/schedules/index.js';
import { gaussianNll, l2Residual } from '../../src/solvers/likelihood.js';
import { pixelPrior, type DiffusionPrior } from '../../src/solvers/prior.js';
import {
  disposeParams,
  fitFromJSON,
  fitToJSON,
  fitVipaintPosterior,
  refineWithLikelihood,
  sampleVipaintPosterior,
} from '../../src/solvers/vipaint/index.js';
import { Rng } from '../../src/util/random.js';
import { gaussianDenoiser, elementMoments, type GaussianData } from '../sampling/gaussian-prior.js';

const M = 0.3;
const DATA: GaussianData = { mean: new Array<number>(16).fill(M), std: 1, shape: [4, 4, 1] };
const MASK = [1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0];
const X_TRUE = [-0.8, 0.2, 0.9, -0.4, 0.6, -0.1, 0.5, 0.5, 0.0, 0.7, -0.6, 0.1, 0.3, -0.9, 0.8, 0.4];

function setup(): { prior: DiffusionPrior; op: InpaintOperator; y0: tf.Tensor4D } {
  const schedule = vpDiscrete();
  const prior = pixelPrior(gaussianDenoiser(DATA, schedule, 'eps'));
  const op = operator(
    MASK,
    X_TRUE.map((v, i) => v * (MASK[i] as number)),
    4,
  );
  return { prior, op, y0: tf.clone(op.y) };
}

/** An inpainting operator from plain arrays (its input tensors disposed). */
function operator(mask: number[], y: number[], size: number): InpaintOperator {
  const m = tf.tensor4d(mask, [1, size, size, 1]);
  const yy = tf.tensor4d(y, [1, size, size, 1]);
  const op = InpaintOperator.fromObservation(m, yy, {});
  tf.dispose([m, yy]);
  return op;
}

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] fit lowers the loss; samples match y where observed and the prior mean where missing; refinement lowers the residual`, async () => {
    await useBackend(backend);
    const { prior, op, y0 } = setup();
    const before = tf.memory().numTensors;
    const rng = new Rng(7);
    const progress: number[] = [];
    let gradientCalls = 0;
    const sigmaLik = 0.05;
    const iterations = 200;
    const fit = await fitVipaintPosterior(prior, op, {
      y0,
      rng,
      iterations,
      batch: 4,
      likelihood: (x) => gaussianNll(op, x, sigmaLik),
      // A faster learning-rate decay than the paper's (x0.99 every 10) so that 200 iterations settle.
      lrDecay: { factor: 0.95, every: 5 },
      onProgress: (p) => progress.push(p.iteration),
      onCalls: (kind, n) => {
        if (kind === 'gradient') gradientCalls += n ?? 1;
      },
    });
    assert.deepEqual(
      progress,
      Array.from({ length: iterations }, (_, i) => i + 1),
    );
    // K = 2: two transitions' worth of calls (1) + x_hat at T_s (1) + prior term (1) per iteration.
    assert.equal(gradientCalls, 3 * iterations);
    assert.deepEqual(fit.calls, { forward: 0, gradient: 3 * iterations });
    const avg = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
    const first = avg(fit.curve.total.slice(0, 5));
    const last = avg(fit.curve.total.slice(-10));
    assert.ok(last < 0.2 * first, `loss ${first.toFixed(1)} -> ${last.toFixed(1)}`);
    const likFirst = avg(fit.curve.likelihood.slice(0, 5));
    const likLast = avg(fit.curve.likelihood.slice(-10));
    assert.ok(likLast < 0.2 * likFirst, `likelihood ${likFirst.toFixed(1)} -> ${likLast.toFixed(1)}`);

    // Serialisable and restorable.
    const json = JSON.parse(JSON.stringify(fitToJSON(fit))) as ReturnType<typeof fitToJSON>;
    const restored = fitFromJSON(json);
    assert.deepEqual(Array.from(restored.params.mu.dataSync()), Array.from(fit.params.mu.dataSync()));
    disposeParams(restored.params);

    const n = 400;
    let forwardCalls = 0;
    const z = await sampleVipaintPosterior(prior, fit, n, rng, {
      onCalls: (kind) => kind === 'forward' && forwardCalls++,
    });
    assert.equal(forwardCalls, 1);
    const x0 = tf.tidy(() => prior.denoiser.predictX0(z, 400));
    const { mean, std } = elementMoments(x0.dataSync() as Float32Array, n);
    // Exact answers for x_hat = E[x | z_{T_s}]: its prior std at T_s is k = alpha s^2/(alpha^2 s^2 + sigma^2)
    // times std(z) = 1, i.e. 0.65. Observed pixels: the likelihood (sigma 0.05) dominates, so the
    // posterior mean is y shrunk by 0.6% towards m. Missing pixels are independent of the observed
    // ones, so their posterior is the prior: mean m, std 0.65.
    // Tolerances: the MC standard error of a mean over 400 samples is <= 0.65/20 = 0.03; what remains
    // is optimisation noise in mu (Adam steps ~0.1 x decay). Observed means within 0.06; missing
    // means within 0.25 each and 0.08 on average over the 8 missing pixels; missing std in
    // [0.45, 0.8]; observed std below 0.4 (the fitted tau shrinks slowly at lr 0.01).
    const k = 0.6515; // alpha_400 (1^2) / (abar_400 + 1 - abar_400) = sqrt(0.4245)
    assert.ok(Math.abs(k - Math.sqrt(prior.denoiser.schedule.alpha(400) ** 2)) < 1e-3);
    const missing: number[] = [];
    mean.forEach((v, i) => {
      if (MASK[i]) {
        assert.ok(Math.abs(v - (X_TRUE[i] as number)) < 0.06, `observed ${i}: mean ${v} vs y ${X_TRUE[i]}`);
        assert.ok((std[i] as number) < 0.4, `observed ${i}: std ${std[i]}`);
      } else {
        missing.push(v);
        assert.ok(Math.abs(v - M) < 0.25, `missing ${i}: mean ${v} vs prior mean ${M}`);
        assert.ok(
          (std[i] as number) > 0.45 && (std[i] as number) < 0.8,
          `missing ${i}: std ${std[i]} vs ${k}`,
        );
      }
    });
    const missingAvg = missing.reduce((a, v) => a + v, 0) / missing.length;
    assert.ok(Math.abs(missingAvg - M) < 0.08, `missing pixels' average mean ${missingAvg} vs ${M}`);

    // Refinement: with the likelihood gradient the residual ends lower than without it (same noise).
    const residual = async (zeta: number): Promise<number> => {
      const imgs = await refineWithLikelihood(prior, op, z, { from: 400, rng: new Rng(3), steps: 20, zeta });
      const r = tf.tidy(() => tf.mean(l2Residual(op, imgs)).dataSync()[0] as number);
      imgs.dispose();
      return r;
    };
    const plain = await residual(0);
    const guided = await residual(0.05);
    assert.ok(
      guided < 0.5 * plain,
      `residual ${plain.toFixed(3)} (zeta 0) -> ${guided.toFixed(3)} (zeta 0.05)`,
    );

    tf.dispose([z, x0]);
    disposeParams(fit.params);
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
    op.dispose();
    y0.dispose();
  });

  test(`[${backend}] NaN or Inf stops the fit with the iteration and the term; no leak`, async () => {
    await useBackend(backend);
    const { prior, op, y0 } = setup();
    const before = tf.memory().numTensors;
    let calls = 0;
    await assert.rejects(
      fitVipaintPosterior(prior, op, {
        y0,
        rng: new Rng(1),
        iterations: 10,
        batch: 2,
        likelihood: (x) =>
          tf.tidy(() => {
            calls += 1;
            const v = gaussianNll(op, x, 0.1);
            return (calls === 3 ? tf.mul(v, NaN) : v) as tf.Tensor1D;
          }),
      }),
      /iteration 3: the likelihood term is NaN/,
    );
    // A finite loss with a NaN gradient (d sqrt(|x - x|) = inf * 0).
    await assert.rejects(
      fitVipaintPosterior(prior, op, {
        y0,
        rng: new Rng(1),
        iterations: 3,
        batch: 2,
        likelihood: (x) =>
          tf.tidy(() => tf.sum(tf.reshape(tf.sqrt(tf.abs(tf.sub(x, x))), [x.shape[0], -1]), 1)),
      }),
      /iteration 1: the gradient of mu contains NaN or Inf/,
    );
    // A network that returns Inf: the KL terms blow up first.
    const bad: DiffusionPrior = {
      ...prior,
      denoiser: {
        ...prior.denoiser,
        predictX0: (z) => tf.tidy(() => tf.mul(z, Infinity) as tf.Tensor4D),
        predictEps: (z) => tf.tidy(() => tf.mul(z, Infinity) as tf.Tensor4D),
      },
    };
    await assert.rejects(
      fitVipaintPosterior(bad, op, { y0, rng: new Rng(1), iterations: 5, batch: 2, laplaceScale: 0.05 }),
      /iteration 1: the (likelihood|KL|prior) term is (NaN|Infinity)/,
    );
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
    op.dispose();
    y0.dispose();
  });
}

test('bad input: K < 2, keypoints out of order or outside the schedule, wrong sizes, latent y_0 for a pixel prior, NaN, empty mask, abort', async () => {
  await useBackend('wasm');
  const { prior, op, y0 } = setup();
  const rng = new Rng(1);
  const fit = (extra: Record<string, unknown>): Promise<unknown> =>
    fitVipaintPosterior(prior, op, { y0, rng, iterations: 1, batch: 1, laplaceScale: 0.05, ...extra });
  await assert.rejects(fit({ laplaceScale: undefined }), /give laplaceScale/);
  await assert.rejects(fit({ config: { keypoints: [400] } }), /need at least 2/);
  await assert.rejects(fit({ config: { keypoints: [400, 550] } }), /strictly decreasing/);
  await assert.rejects(fit({ config: { keypoints: [1500, 400] } }), /outside/);
  await assert.rejects(fit({ config: { keypoints: [550.5, 400] } }), /integer/);
  await assert.rejects(fit({ config: { keypoints: [999, 400] } }), /T_e = 999 leaves no diffusion above it/);
  await assert.rejects(fit({ config: { eta: 0 } }), /eta must be in \(0, 1\]/);
  const latent = tf.zeros([1, 2, 2, 4]) as tf.Tensor4D;
  await assert.rejects(fit({ y0: latent }), /a pixel prior takes the observation image itself/);
  latent.dispose();
  const nan = tf.fill([1, 4, 4, 1], NaN) as tf.Tensor4D;
  await assert.rejects(fit({ y0: nan }), /y_0 contains NaN/);
  nan.dispose();
  const big = operator(new Array<number>(64).fill(1), new Array<number>(64).fill(0), 8);
  await assert.rejects(
    fitVipaintPosterior(prior, big, { y0, rng }),
    /expects 8x8x1 images but the prior makes 4x4x1/,
  );
  big.dispose();
  const none = operator(new Array<number>(16).fill(0), new Array<number>(16).fill(0), 4);
  await assert.rejects(fitVipaintPosterior(prior, none, { y0, rng }), /observes nothing/);
  none.dispose();
  const all = operator(new Array<number>(16).fill(1), new Array<number>(16).fill(0), 4);
  await assert.rejects(fitVipaintPosterior(prior, all, { y0, rng }), /hides nothing/);
  all.dispose();
  const controller = new AbortController();
  controller.abort();
  const before = tf.memory().numTensors;
  await assert.rejects(fit({ signal: controller.signal }), /abort/i);
  assert.equal(tf.memory().numTensors, before, 'no tensors leaked on abort');
  op.dispose();
  y0.dispose();
});
