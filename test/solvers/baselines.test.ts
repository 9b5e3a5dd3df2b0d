/**
 * The baseline solvers on exact Gaussian priors (baselines-helpers.ts), pixel and latent, VP and
 * EDM schedules, 4x4 inpainting with 160 samples per run:
 * - shape [N, 4, 4, 1] and values in [-1, 1];
 * - observed pixels: Blended / RePaint exactly y (1e-5); the others within a method-specific
 *   tolerance (hard-consistency ReSample tight; DPS / PSLD / CoPaint / RED-diff looser, stated);
 * - missing pixels (which no measurement touches, so the exact posterior is the prior): sample mean
 *   within 5 standard errors s / sqrt(N) of the prior mean m (pixel) or D(m_z) (latent);
 * - mean residual ||y - A(x)|| at most 30% of the unconditional one, computed in closed form:
 *   sqrt(sum over observed (x_true - m)^2 + s^2);
 * - exact network-call counts from each method's documented formula;
 * - abort: rejects promptly with the abort reason and leaves no tensors behind;
 * - RePaint's jump schedule against a hand-made sequence from the published algorithm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import { edm, vpDiscrete } from '../../src/schedules/index.js';
import type { NoiseSchedule } from '../../src/schedules/types.js';
import { SuperResolutionOperator } from '../../src/physics/sr.js';
import type { MeasurementOperator } from '../../src/physics/operator.js';
import type { CallCounts, DiffusionPrior } from '../../src/solvers/prior.js';
import { Rng } from '../../src/util/random.js';
import type { SolverContext } from '../../src/solvers/baselines/common.js';
import { dps } from '../../src/solvers/baselines/dps.js';
import { psld } from '../../src/solvers/baselines/psld.js';
import { blended } from '../../src/solvers/baselines/blended.js';
import { repaint } from '../../src/solvers/baselines/repaint.js';
import { redDiff, redDiffV } from '../../src/solvers/baselines/red-diff.js';
import { resample, resampleCallCounts } from '../../src/solvers/baselines/resample.js';
import { copaint, copaintSequence, copaintTT } from '../../src/solvers/baselines/copaint.js';
import { jumpSchedule, reverseStepCount, timeGrid } from '../../src/solvers/baselines/schedule-grid.js';
import {
  BLOCK_MASK,
  LATENT_DATA,
  PIXEL_DATA,
  PIXEL_MASK,
  X_TRUE,
  average,
  decodeReference,
  inpaintProblem,
  latentGaussianPrior,
  pixelGaussianPrior,
  recordingContext,
  stats,
} from './baselines-helpers.js';

const N = 120;
type Run = (prior: DiffusionPrior, op: MeasurementOperator, ctx: SolverContext) => Promise<tf.Tensor4D>;

interface Case {
  name: string;
  run: Run;
  /** Max |x - y| on observed pixels over all samples. */
  observedTol: number;
  calls: (prior: DiffusionPrior) => CallCounts | ((c: CallCounts) => void);
}

const X_LATENT = decodeReference(
  LATENT_DATA.mean.map((v, i) => v + 0.2 * Math.sin(i)),
  1,
);

function uncondResidual(mask: number[], xTrue: number[], mean: number[], s: number): number {
  let r2 = 0;
  mask.forEach((m, j) => {
    if (m === 1) r2 += ((xTrue[j] as number) - (mean[j] as number)) ** 2 + s * s;
  });
  return Math.sqrt(r2);
}

/** The latent image-space std of a missing pixel: s_z * ||row of M||. */
function latentPixelStd(): number {
  return LATENT_DATA.std * 1.0; // rows of M have norm <= 0.95; 1.0 is a safe upper bound
}

async function check(prior: DiffusionPrior, space: 'pixel' | 'latent', c: Case, seed: number): Promise<void> {
  const mask = space === 'pixel' ? PIXEL_MASK : BLOCK_MASK;
  const xTrue = space === 'pixel' ? X_TRUE : X_LATENT;
  const priorMean = space === 'pixel' ? PIXEL_DATA.mean : decodeReference(LATENT_DATA.mean, 1);
  const s = space === 'pixel' ? PIXEL_DATA.std : latentPixelStd();
  const op = inpaintProblem(mask, xTrue);
  const before = tf.memory().numTensors;
  const rec = recordingContext(seed);
  try {
    const x = await c.run(prior, op, rec.ctx);
    assert.deepEqual(x.shape, [N, 4, 4, 1], `${c.name}: shape`);
    const values = x.dataSync();
    x.dispose();
    assert.equal(tf.memory().numTensors, before, `${c.name}: leaked tensors`);
    for (const v of values) assert.ok(v >= -1 && v <= 1, `${c.name}: value ${v} outside [-1, 1]`);
    const st = stats(values, N, mask, xTrue);
    if (process.env['BASELINES_LOG']) {
      console.log(
        c.name,
        space,
        st.maxObservedErr.toFixed(4),
        average(st.residual).toFixed(4),
        JSON.stringify(rec.calls),
      );
    }
    assert.ok(
      st.maxObservedErr <= c.observedTol,
      `${c.name} (${space}): observed error ${st.maxObservedErr} > ${c.observedTol}`,
    );
    const se = s / Math.sqrt(N);
    mask.forEach((m, j) => {
      if (m === 0) {
        const err = Math.abs((st.mean[j] as number) - (priorMean[j] as number));
        assert.ok(
          err <= 5 * se,
          `${c.name} (${space}): missing pixel ${j} mean off by ${err} (> 5 se ${5 * se})`,
        );
      }
    });
    const unc = uncondResidual(mask, xTrue, priorMean, s);
    assert.ok(
      average(st.residual) <= 0.3 * unc,
      `${c.name} (${space}): residual ${average(st.residual)} vs unconditional ${unc}`,
    );
    const expected = c.calls(prior);
    if (typeof expected === 'function') expected(rec.calls);
    else assert.deepEqual(rec.calls, expected, `${c.name}: call counts`);
    assert.ok(rec.progress.length > 0, `${c.name}: no progress reported`);
  } finally {
    op.dispose();
  }
}

const COPAINT_STEPS = 60;

function pixelCases(kind: 'vp' | 'edm'): Case[] {
  return [
    {
      name: 'DPS',
      run: (p, op, ctx) => dps(p, op, { samples: N, steps: 100, scale: kind === 'vp' ? 0.2 : 0.05 }, ctx),
      observedTol: 0.2,
      calls: () => ({ forward: 0, gradient: 100 }),
    },
    {
      name: 'Blended',
      run: (p, op, ctx) => blended(p, op, { samples: N, steps: 50 }, ctx),
      observedTol: 1e-5,
      calls: () => ({ forward: 50, gradient: 0 }),
    },
    {
      name: 'RePaint',
      run: (p, op, ctx) => repaint(p, op, { samples: N, steps: 20, jumpLength: 5, resamplings: 3 }, ctx),
      observedTol: 1e-5,
      // 20 + (3 - 1) * 5 * |{0, 5, 10}| = 50
      calls: () => ({ forward: 50, gradient: 0 }),
    },
    {
      name: 'RED-diff (lambda 0.25)',
      run: (p, op, ctx) => redDiff(p, op, { samples: N, steps: 100, lambda: 0.25 }, ctx),
      observedTol: 0.2,
      calls: () => ({ forward: 100, gradient: 0 }),
    },
    {
      name: 'RED-diff-V (lambda 0.25)',
      run: (p, op, ctx) => redDiffV(p, op, { samples: N, steps: 100, lambda: 0.25 }, ctx),
      observedTol: 0.2,
      calls: () => ({ forward: 100, gradient: 0 }),
    },
    {
      name: 'CoPaint (fixed lr)',
      run: (p, op, ctx) =>
        copaint(p, op, { samples: N, steps: COPAINT_STEPS, lr: 0.2, adaptiveLr: false }, ctx),
      observedTol: 0.02,
      calls: () => ({ forward: COPAINT_STEPS, gradient: 2 * COPAINT_STEPS }),
    },
    {
      name: 'CoPaint-TT (adaptive lr)',
      run: (p, op, ctx) =>
        copaintTT(p, op, { samples: N, steps: COPAINT_STEPS, lr: 0.2, jumpLength: 5 }, ctx),
      observedTol: 0.02,
      calls: () => (c: CallCounts) => {
        const seq = copaintSequence({ steps: COPAINT_STEPS, jumpLength: 5, timeTravel: true });
        const reverse = reverseStepCount(seq);
        let jumpsBack = 0;
        for (let i = 1; i < seq.length; i++) {
          if (
            (seq[i] as number) > (seq[i - 1] as number) &&
            (seq[i - 1] as number) < (seq[i - 2] ?? Infinity)
          ) {
            jumpsBack++;
          }
        }
        assert.equal(c.gradient, 2 * (reverse + jumpsBack), 'CoPaint-TT gradient calls');
        // Each gradient step is followed by >= 1 backtracking evaluation.
        assert.ok(c.forward >= c.gradient, `CoPaint-TT forward calls ${c.forward} < ${c.gradient}`);
      },
    },
  ];
}

function latentCases(): Case[] {
  return [
    {
      name: 'DPS latent',
      run: (p, op, ctx) => dps(p, op, { samples: N, steps: 100, scale: 0.2 }, ctx),
      observedTol: 0.2,
      calls: () => ({ forward: 0, gradient: 100 }),
    },
    {
      name: 'PSLD',
      run: (p, op, ctx) => psld(p, op, { samples: N, steps: 100, scale: 0.1, gamma: 0.1 }, ctx),
      observedTol: 0.2,
      calls: () => ({ forward: 0, gradient: 100 }),
    },
    {
      name: 'Blended latent',
      run: (p, op, ctx) => blended(p, op, { samples: N, steps: 50 }, ctx),
      observedTol: 1e-5,
      calls: () => ({ forward: 50, gradient: 0 }),
    },
    {
      name: 'RED-diff latent (lambda 0.25)',
      run: (p, op, ctx) => redDiff(p, op, { samples: N, steps: 100, lambda: 0.25 }, ctx),
      observedTol: 0.2,
      calls: () => ({ forward: 100, gradient: 0 }),
    },
  ];
}

const RESAMPLE_OPTS = { samples: N, steps: 60, optSteps: 100, latentLr: 0.02, pixelLr: 0.02 };

for (const backend of TEST_BACKENDS) {
  test(`baselines on a pixel VP prior [${backend}]`, async () => {
    await useBackend(backend);
    const prior = pixelGaussianPrior(vpDiscrete());
    let seed = 10;
    for (const c of pixelCases('vp')) await check(prior, 'pixel', c, seed++);
    await check(
      prior,
      'pixel',
      {
        name: 'ReSample pixel',
        run: (p, op, ctx) => resample(p, op, RESAMPLE_OPTS, ctx),
        observedTol: 0.02,
        calls: () => resampleCallCounts(RESAMPLE_OPTS),
      },
      seed++,
    );
  });

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

  test(`abort stops every baseline promptly and leaks nothing [${backend}]`, async () => {
    await useBackend(backend);
    const solvers: [string, Run][] = [
      ['DPS', (p, op, ctx) => dps(p, op, { samples: 4, steps: 1000 }, ctx)],
      ['PSLD', (p, op, ctx) => psld(p, op, { samples: 4, steps: 1000 }, ctx)],
      ['Blended', (p, op, ctx) => blended(p, op, { samples: 4, steps: 1000 }, ctx)],
      ['RePaint', (p, op, ctx) => repaint(p, op, { samples: 4 }, ctx)],
      ['RED-diff', (p, op, ctx) => redDiff(p, op, { samples: 4 }, ctx)],
      ['ReSample', (p, op, ctx) => resample(p, op, { samples: 4, steps: 30, interval: 2 }, ctx)],
      ['CoPaint-TT', (p, op, ctx) => copaintTT(p, op, { samples: 4 }, ctx)],
    ];
    const prior = pixelGaussianPrior(vpDiscrete());
    const op = inpaintProblem(PIXEL_MASK);
    try {
      for (const [name, run] of solvers) {
        const before = tf.memory().numTensors;
        const controller = new AbortController();
        const rec = recordingContext(1, controller.signal);
        let steps = 0;
        // Abort from the 3rd progress report; ReSample's 3rd step (index 27 % 2 = 1) is not a
        // consistency step, its 4th is: the abort lands after an optimisation.
        const ctx: SolverContext = {
          ...rec.ctx,
          onProgress: () => {
            steps++;
            if (steps === (name === 'ReSample' ? 4 : 3)) controller.abort(new Error(`stop ${name}`));
          },
        };
        await assert.rejects(run(prior, op, ctx), new RegExp(`stop ${name}`));
        assert.equal(steps, name === 'ReSample' ? 4 : 3, `${name}: ran on after the abort`);
        assert.equal(tf.memory().numTensors, before, `${name}: leaked tensors after abort`);
      }
    } finally {
      op.dispose();
    }
  });
}

test('inpainting-only methods refuse an operator without a mask; ReSample refuses EDM', async () => {
  await useBackend('cpu');
  const prior = pixelGaussianPrior(vpDiscrete());
  const x = tf.tensor4d(X_TRUE, [1, 4, 4, 1]);
  const op = SuperResolutionOperator.measure(x, { factor: 2 }, new Rng(1));
  x.dispose();
  try {
    const ctx = recordingContext(1).ctx;
    await assert.rejects(blended(prior, op, { steps: 5 }, ctx), /Blended is an inpainting method.*'sr'/);
    await assert.rejects(repaint(prior, op, { steps: 5 }, ctx), /RePaint is an inpainting method/);
    await assert.rejects(copaint(prior, op, { steps: 5 }, ctx), /CoPaint is an inpainting method/);
    await assert.rejects(copaintTT(prior, op, { steps: 5 }, ctx), /CoPaint-TT is an inpainting method/);
    // General operators are fine for DPS.
    const out = await dps(prior, op, { steps: 5, scale: 0.05, samples: 2 }, ctx);
    assert.deepEqual(out.shape, [2, 4, 4, 1]);
    out.dispose();
    await assert.rejects(
      resample(pixelGaussianPrior(edm()), inpaintProblem(PIXEL_MASK), { steps: 5 }, ctx),
      /ReSample needs a VP schedule/,
    );
  } finally {
    op.dispose();
  }
});

test("RePaint's jump schedule matches the published get_schedule_jump on a hand-worked case", () => {
  // t_T = 6, jump_length 2, jump_n_sample 3: jump points {0, 2} (range(0, 6 - 2, 2)), two jumps each.
  // Walk: 5 4 3 2 | up 3 4 | 3 2 | up 3 4 | 3 2 1 0 | up 1 2 | 1 0 | up 1 2 | 1 0, then -1.
  const expected = [5, 4, 3, 2, 3, 4, 3, 2, 3, 4, 3, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, -1];
  assert.deepEqual(jumpSchedule(6, 2, 3), expected);
  assert.equal(reverseStepCount(expected), 6 + 2 * 2 * 2);
  // Without resampling the walk is plain descent.
  assert.deepEqual(jumpSchedule(4, 10, 10), [3, 2, 1, 0, -1]);
  // The paper's defaults: 256 levels, L = 10, 10 resamplings -> 256 + 9 * 10 * 25 network calls.
  const full = jumpSchedule(256, 10, 10);
  assert.equal(reverseStepCount(full), 256 + 9 * 10 * 25);
  for (let i = 1; i < full.length; i++)
    assert.equal(Math.abs((full[i] as number) - (full[i - 1] as number)), 1);
  // RePaint's own configuration (250 levels) gives the 2410 steps of its paper's schedule.
  assert.equal(reverseStepCount(jumpSchedule(250, 10, 10)), 250 + 9 * 10 * 24);
});

test('time grids: respaced VP steps, EDM rho grid', () => {
  const vp: NoiseSchedule = vpDiscrete();
  const g = timeGrid(vp, 250);
  assert.equal(g.length, 250);
  assert.equal(g[0], 0);
  assert.equal(g[249], 999);
  assert.equal(g[1], Math.round(999 / 249));
  assert.deepEqual(
    timeGrid(vp, 1000),
    Array.from({ length: 1000 }, (_, i) => i),
  );
  const e = timeGrid(edm(), 18);
  assert.ok(Math.abs((e[17] as number) - 80) < 1e-9 && Math.abs((e[0] as number) - 0.002) < 1e-12);
  const rho = 7;
  const ref = (i: number): number =>
    (80 ** (1 / rho) + (i / 17) * (0.002 ** (1 / rho) - 80 ** (1 / rho))) ** rho;
  e.forEach((v, k) => assert.ok(Math.abs(v - ref(17 - k)) <= 1e-9 * ref(17 - k)));
});
