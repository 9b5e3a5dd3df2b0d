/**
 * VIPaint's budget split (docs/method.md "Budget") and the two forms of the top keypoint's
 * initial noise (docs/method.md "Initialisation"), in closed form.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { PAPER_FIT_SHARE, refineStepsLeft, splitBudget } from '../../src/solvers/vipaint/budget.js';
import { resolveVipaintConfig } from '../../src/solvers/vipaint/config.js';
import { initVipaintParams } from '../../src/solvers/vipaint/init.js';
import { defaultRefineSteps } from '../../src/solvers/vipaint/refine.js';
import { vpDiscrete } from '../../src/schedules/index.js';
import { Rng } from '../../src/util/random.js';
import { useBackend } from '../helpers/backends.js';

test("budget split: the paper's 550 calls are 50 fit iterations + 400 steps; 80 calls are 7 + 59 (K = 2), 4 + 60 (K = 4)", () => {
  assert.deepEqual(splitBudget(550, 2), { iterations: 50, fitCalls: 150, refineSteps: 400 });
  assert.deepEqual(splitBudget(80, 2), { iterations: 7, fitCalls: 21, refineSteps: 59 });
  assert.deepEqual(splitBudget(80, 4), { iterations: 4, fitCalls: 20, refineSteps: 60 });
  assert.deepEqual(splitBudget(250, 2), { iterations: 23, fitCalls: 69, refineSteps: 181 });
  // At any budget the fit's share stays within one iteration of 150/550.
  for (const budget of [40, 80, 250, 550, 1000]) {
    const s = splitBudget(budget, 2);
    assert.ok(Math.abs(s.fitCalls - PAPER_FIT_SHARE * budget) <= 1.5, `budget ${budget}`);
    assert.equal(s.fitCalls + s.refineSteps, budget);
  }
  assert.deepEqual(splitBudget(900, 4, 500 / 900), { iterations: 100, fitCalls: 500, refineSteps: 400 });
  assert.throws(() => splitBudget(3, 2), /leaves no refinement step/);
  assert.throws(() => splitBudget(80.5, 2), /integer/);
  assert.throws(() => splitBudget(80, 2, 1), /fitShare/);
  assert.equal(refineStepsLeft(80, 21), 59);
  assert.throws(() => refineStepsLeft(20, 21), /the whole budget/);
  // The paper's refinement: every step from T_s to 0 (discrete), 700 steps (EDM).
  assert.equal(defaultRefineSteps({ discrete: true }, 400), 401);
  assert.equal(defaultRefineSteps({ discrete: false }, 2), 700);
});

test("top keypoint's initial noise: Table 4's a1 sigma against the authors' 0.1 alpha (clean units), same draws", async () => {
  await useBackend('cpu');
  const schedule = vpDiscrete(); // scaled linear, 1000 steps (METHOD.md section 1)
  const { alpha, sigma } = schedule.level(550);
  const y0 = tf.tidy(() => tf.mul(tf.ones([1, 4, 4, 2]), 0.3) as tf.Tensor4D);
  const noiseOf = (parametrisation: 'paper' | 'authors', init: Record<string, number>): Float64Array => {
    const config = resolveVipaintConfig(schedule, { parametrisation });
    const p = initVipaintParams(schedule, config, y0, new Rng(7), init);
    const top = tf.tidy(() => {
      const mu = tf.slice(p.mu, 0, 1);
      // Back to noisy units for the authors' clean-unit mean, then minus alpha y_0.
      return tf.sub(parametrisation === 'authors' ? tf.mul(mu, alpha) : mu, tf.mul(y0, alpha));
    });
    const v = Float64Array.from(top.dataSync());
    top.dispose();
    p.mu.dispose();
    p.logTau2.dispose();
    p.gammaLogit.dispose();
    return v;
  };
  const literal = noiseOf('paper', { a1: 0.8 });
  const byDefault = noiseOf('paper', {});
  const authors = noiseOf('authors', {});
  const explicit = noiseOf('paper', { topNoise: 0.1 });
  literal.forEach((v, i) => {
    // The same eps scaled two ways: 0.8 sigma against 0.1 alpha (the VP default).
    const ratio = v / (byDefault[i] as number);
    assert.ok(Math.abs(ratio - (0.8 * sigma) / (0.1 * alpha)) < 1e-3 * ratio, `ratio ${ratio}`);
    assert.ok(Math.abs((authors[i] as number) - (byDefault[i] as number)) < 1e-6, 'both parametrisations');
    assert.equal(explicit[i], byDefault[i]);
  });
  assert.ok(Math.abs(0.8 * sigma - 0.709) < 1e-3 && Math.abs(0.1 * alpha - 0.0462) < 1e-3);
  y0.dispose();
});
