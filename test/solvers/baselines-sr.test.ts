/**
 * The baselines for general linear operators (DPS, PSLD, RED-diff, ReSample) on 2x super-resolution
 * of a 4x4 image (antialiased bicubic, src/physics/sr.ts) with exact Gaussian priors, pixel and
 * latent: samples in range, exact call counts, and a mean residual ||y - A(x)|| at most 30% of the
 * unconditional one, sqrt(||y - A m||^2 + sum_i std_i^2 ||A e_i||^2), with A's columns A e_i
 * measured by applying the operator to the 16 unit images.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import { vpDiscrete } from '../../src/schedules/index.js';
import { SuperResolutionOperator } from '../../src/physics/sr.js';
import type { MeasurementOperator } from '../../src/physics/operator.js';
import { Rng } from '../../src/util/random.js';
import type { CallCounts, DiffusionPrior } from '../../src/solvers/prior.js';
import type { SolverContext } from '../../src/solvers/baselines/common.js';
import { dps } from '../../src/solvers/baselines/dps.js';
import { psld } from '../../src/solvers/baselines/psld.js';
import { redDiff } from '../../src/solvers/baselines/red-diff.js';
import { resample, resampleCallCounts } from '../../src/solvers/baselines/resample.js';
import {
  DECODER_M,
  LATENT_DATA,
  PIXEL_DATA,
  average,
  decodeReference,
  latentGaussianPrior,
  pixelGaussianPrior,
  recordingContext,
} from './baselines-helpers.js';

const N = 60;
const X_TRUE = [0.5, -0.1, 0.2, 0.3, -0.3, 0.35, 0.1, 0, 0.2, 0.3, -0.2, 0.15, 0.45, 0.05, 0.1, -0.2];

function pixelStd(space: 'pixel' | 'latent'): number[] {
  return Array.from({ length: 16 }, (_, j) => {
    if (space === 'pixel') return PIXEL_DATA.std;
    const row = DECODER_M[(Math.floor(j / 4) % 2) * 2 + (j % 2)] as number[];
    return LATENT_DATA.std * Math.hypot(row[0] as number, row[1] as number);
  });
}

/** sqrt(E ||y - A x||^2) for x from the prior (independent pixels with means m, stds std). */
function unconditional(op: MeasurementOperator, mean: number[], std: number[]): number {
  return tf.tidy(() => {
    const eye = tf.reshape(tf.eye(16), [16, 4, 4, 1]) as tf.Tensor4D;
    const cols = op.forward(eye).reshape([16, -1]).arraySync() as number[][];
    const am = op.forward(tf.tensor4d(mean, [1, 4, 4, 1])).dataSync();
    const y = op.y.dataSync();
    let r2 = 0;
    for (let o = 0; o < y.length; o++) r2 += ((y[o] as number) - (am[o] as number)) ** 2;
    cols.forEach((c, i) => c.forEach((a) => (r2 += (std[i] as number) ** 2 * a * a)));
    return Math.sqrt(r2);
  });
}

type Run = (p: DiffusionPrior, op: MeasurementOperator, ctx: SolverContext) => Promise<tf.Tensor4D>;

async function check(
  prior: DiffusionPrior,
  space: 'pixel' | 'latent',
  name: string,
  run: Run,
  calls: CallCounts,
): Promise<void> {
  const x = tf.tensor4d(X_TRUE, [1, 4, 4, 1]);
  const op = SuperResolutionOperator.measure(x, { factor: 2 }, new Rng(3));
  x.dispose();
  try {
    const mean = space === 'pixel' ? PIXEL_DATA.mean : decodeReference(LATENT_DATA.mean, 1);
    const unc = unconditional(op, mean, pixelStd(space));
    const before = tf.memory().numTensors;
    const rec = recordingContext(9);
    const out = await run(prior, op, rec.ctx);
    assert.deepEqual(out.shape, [N, 4, 4, 1]);
    const res = tf.tidy(
      () => tf.sqrt(tf.sum(tf.square(tf.sub(op.forward(out), op.y)), [1, 2, 3])).arraySync() as number[],
    );
    const values = out.dataSync();
    out.dispose();
    assert.equal(tf.memory().numTensors, before, `${name}: leaked tensors`);
    for (const v of values) assert.ok(v >= -1 && v <= 1);
    assert.ok(
      average(res) <= 0.3 * unc,
      `${name} (${space}): residual ${average(res)} vs unconditional ${unc}`,
    );
    assert.deepEqual(rec.calls, calls, `${name}: calls`);
  } finally {
    op.dispose();
  }
}

const RS = { samples: N, steps: 30, optSteps: 100, latentLr: 0.02, pixelLr: 0.02, interval: 5 };

for (const backend of TEST_BACKENDS) {
  test(`general-operator baselines on 2x super-resolution [${backend}]`, async () => {
    await useBackend(backend);
    const pixel = pixelGaussianPrior(vpDiscrete());
    await check(pixel, 'pixel', 'DPS', (p, op, c) => dps(p, op, { samples: N, steps: 60, scale: 0.5 }, c), {
      forward: 0,
      gradient: 60,
    });
    await check(
      pixel,
      'pixel',
      'RED-diff',
      (p, op, c) => redDiff(p, op, { samples: N, steps: 60, lambda: 0.25 }, c),
      { forward: 60, gradient: 0 },
    );
    await check(pixel, 'pixel', 'ReSample', (p, op, c) => resample(p, op, RS, c), resampleCallCounts(RS));
    const latent = latentGaussianPrior(vpDiscrete());
    await check(latent, 'latent', 'DPS', (p, op, c) => dps(p, op, { samples: N, steps: 60, scale: 0.5 }, c), {
      forward: 0,
      gradient: 60,
    });
    await check(
      latent,
      'latent',
      'PSLD',
      (p, op, c) => psld(p, op, { samples: N, steps: 60, scale: 0.5, gamma: 0.1 }, c),
      { forward: 0, gradient: 60 },
    );
    await check(latent, 'latent', 'ReSample', (p, op, c) => resample(p, op, RS, c), resampleCallCounts(RS));
  });
}
