/**
 * The baseline solvers on a pixel VP prior with an exact Gaussian denoiser (checks: see
 * baselines-cases.ts), abort behaviour, refusals of unsuitable operators / schedules, and RePaint's
 * jump schedule against a sequence worked by hand from the published algorithm. EDM and latent
 * priors: baselines-edm-latent.test.ts; float64 step-by-step references: baselines-reference.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import { edm, vpDiscrete } from '../../src/schedules/index.js';
import type { NoiseSchedule } from '../../src/schedules/types.js';
import { SuperResolutionOperator } from '../../src/physics/sr.js';
import { Rng } from '../../src/util/random.js';
import { maskInPriorSpace, type SolverContext } from '../../src/solvers/baselines/common.js';
import { dps } from '../../src/solvers/baselines/dps.js';
import { psld } from '../../src/solvers/baselines/psld.js';
import { blended } from '../../src/solvers/baselines/blended.js';
import { repaint } from '../../src/solvers/baselines/repaint.js';
import { redDiff } from '../../src/solvers/baselines/red-diff.js';
import {
  resample,
  resampleCallCounts,
  resampleConsistencySteps,
} from '../../src/solvers/baselines/resample.js';
import { copaint, copaintTT } from '../../src/solvers/baselines/copaint.js';
import { jumpSchedule, reverseStepCount, timeGrid } from '../../src/solvers/baselines/schedule-grid.js';
import type { MeasurementOperator } from '../../src/physics/operator.js';
import {
  PIXEL_MASK,
  X_TRUE,
  inpaintProblem,
  latentGaussianPrior,
  pixelGaussianPrior,
  recordingContext,
} from './baselines-helpers.js';
import { RESAMPLE_OPTS, check, pixelCases, type Run } from './baselines-cases.js';

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

  test(`ReSample aborted inside a data-consistency optimisation leaks nothing [${backend}]`, async () => {
    await useBackend(backend);
    const prior = pixelGaussianPrior(vpDiscrete());
    const inner = inpaintProblem(PIXEL_MASK);
    const controller = new AbortController();
    let forwards = 0;
    // Delegate to the real operator and abort during the third optimiser iteration of the first
    // consistency step: each DPS step applies A once (positions 0 .. first), then the optimiser
    // once per iteration; its loop must notice the abort before a fourth iteration.
    const first = (resampleConsistencySteps(30, 2)[0] as { i: number }).i;
    const abortAt = first + 1 + 3;
    const op: MeasurementOperator = {
      kind: inner.kind,
      inputShape: inner.inputShape,
      outputShape: inner.outputShape,
      sigmaY: inner.sigmaY,
      y: inner.y,
      mask: inner.mask,
      forward: (x) => {
        forwards++;
        if (forwards === abortAt) controller.abort(new Error('stop inside'));
        return inner.forward(x);
      },
      adjoint: (y) => inner.adjoint(y),
      toSpec: () => inner.toSpec(),
      dispose: () => inner.dispose(),
    };
    try {
      const before = tf.memory().numTensors;
      const rec = recordingContext(2, controller.signal);
      const phases: string[] = [];
      const ctx: SolverContext = { ...rec.ctx, onProgress: (p) => phases.push(p.phase ?? '') };
      await assert.rejects(
        resample(prior, op, { samples: 3, steps: 30, interval: 2, optSteps: 50 }, ctx),
        /stop inside/,
      );
      assert.equal(phases.length, first, 'aborted inside the first consistency step');
      assert.equal(forwards, abortAt, 'the optimiser ran on after the abort');
      assert.equal(tf.memory().numTensors, before, 'leaked tensors after an abort inside the optimiser');
    } finally {
      inner.dispose();
    }
  });
}

test('a latent prior with no fully observed latent element is refused', async () => {
  await useBackend('cpu');
  const prior = latentGaussianPrior(vpDiscrete());
  const checker = Array.from({ length: 16 }, (_, j) => (Math.floor(j / 4) + j) % 2);
  const op = inpaintProblem(checker);
  try {
    await assert.rejects(
      blended(prior, op, { steps: 5 }, recordingContext(1).ctx),
      /Blended: no element of the prior's latent space is fully observed by the mask \(latentMask: 'majority' relaxes this\)/,
    );
  } finally {
    op.dispose();
  }
});

test("latent masks: 'all' keeps fully observed footprints, 'majority' those at least half observed; Blended runs with 'majority' where 'all' has nothing", async () => {
  await useBackend('cpu');
  const prior = latentGaussianPrior(vpDiscrete());
  // 4x4 pixels, 2x2 footprints: top-left 4/4 observed, top-right 2/4, bottom-left 1/4, bottom-right 0/4.
  const mask = tf.tensor4d([1, 1, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0], [1, 4, 4, 1]);
  const all = maskInPriorSpace(prior, mask, 'test', 'all');
  const majority = maskInPriorSpace(prior, mask, 'test', 'majority');
  assert.deepEqual(Array.from(all.dataSync()), [1, 0, 0, 0]);
  assert.deepEqual(Array.from(majority.dataSync()), [1, 1, 0, 0]);
  tf.dispose([mask, all, majority]);
  // The checkerboard leaves every footprint exactly half observed.
  const checker = Array.from({ length: 16 }, (_, j) => (Math.floor(j / 4) + j) % 2);
  const op = inpaintProblem(checker);
  try {
    const before = tf.memory().numTensors;
    const out = await blended(
      prior,
      op,
      { steps: 5, samples: 2, latentMask: 'majority' },
      recordingContext(1).ctx,
    );
    assert.deepEqual(out.shape, [2, 4, 4, 1]);
    assert.ok(Array.from(out.dataSync()).every(Number.isFinite));
    out.dispose();
    assert.equal(tf.memory().numTensors, before);
  } finally {
    op.dispose();
  }
});

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
    const inpaint = inpaintProblem(PIXEL_MASK);
    try {
      await assert.rejects(
        resample(pixelGaussianPrior(edm()), inpaint, { steps: 5 }, ctx),
        /ReSample needs a VP schedule/,
      );
    } finally {
      inpaint.dispose();
    }
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
