/**
 * The baseline solvers on a pixel EDM prior (VE ancestral steps on the rho grid) and on a latent VP
 * prior decoded by a linear autoencoder, both with exact Gaussian denoisers (checks: see
 * baselines-cases.ts).
 */
import { test } from 'node:test';
import { TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import { edm, vpDiscrete } from '../../src/schedules/index.js';
import { resample, resampleCallCounts } from '../../src/solvers/baselines/resample.js';
import { latentGaussianPrior, pixelGaussianPrior } from './baselines-helpers.js';
import { RESAMPLE_OPTS, check, latentCases, pixelCases } from './baselines-cases.js';

for (const backend of TEST_BACKENDS) {
  test(`baselines on a pixel EDM prior [${backend}]`, async () => {
    await useBackend(backend);
    const prior = pixelGaussianPrior(edm());
    let seed = 30;
    for (const c of pixelCases('edm')) await check(prior, 'pixel', c, seed++);
  });

  test(`latent baselines on a Gaussian latent prior with a linear autoencoder [${backend}]`, async () => {
    await useBackend(backend);
    const prior = latentGaussianPrior(vpDiscrete());
    let seed = 50;
    for (const c of latentCases()) await check(prior, 'latent', c, seed++);
    await check(
      prior,
      'latent',
      {
        name: 'ReSample latent',
        run: (p, op, ctx) => resample(p, op, RESAMPLE_OPTS, ctx),
        observedTol: 0.02,
        calls: () => resampleCallCounts(RESAMPLE_OPTS),
      },
      seed++,
    );
  });
}
