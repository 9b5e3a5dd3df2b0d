/**
 * Shared cases of the baseline tests (baselines.test.ts, baselines-edm-latent.test.ts): each method
 * run on a 4x4 inpainting problem with an exact Gaussian prior, and the checks made on its samples:
 * - shape [N, 4, 4, 1] and values in [-1, 1], no tensors left behind;
 * - observed pixels: max |x - y| <= the case's tolerance (Blended / RePaint exactly y: 1e-5;
 *   CoPaint, ReSample 0.02; DPS / PSLD / RED-diff with lambda 0.25: 0.2, their step-size floor);
 * - missing pixels (no measurement touches them, so the exact posterior is the prior): sample mean
 *   within 5 standard errors std / sqrt(N) of the prior mean (pixel: m; latent: D(m_z));
 * - mean residual ||y - A(x)|| at most 30% of the unconditional one, in closed form
 *   sqrt(sum over observed (x_true - m)^2 + std^2);
 * - exact network-call counts from each method's documented formula.
 * Hyperparameters are scaled to the 4x4 problem (step sizes act per image, not per pixel) and the
 * step counts cut for speed; the paper's defaults are exercised by the call-count formulas.
 */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { MeasurementOperator } from '../../src/physics/operator.js';
import type { CallCounts, DiffusionPrior } from '../../src/solvers/prior.js';
import type { SolverContext } from '../../src/solvers/baselines/common.js';
import { dps } from '../../src/solvers/baselines/dps.js';
import { psld } from '../../src/solvers/baselines/psld.js';
import { blended } from '../../src/solvers/baselines/blended.js';
import { repaint } from '../../src/solvers/baselines/repaint.js';
import { redDiff, redDiffV } from '../../src/solvers/baselines/red-diff.js';
import { copaint, copaintSequence, copaintTT } from '../../src/solvers/baselines/copaint.js';
import { reverseStepCount } from '../../src/solvers/baselines/schedule-grid.js';
import {
  BLOCK_MASK,
  DECODER_M,
  LATENT_DATA,
  PIXEL_DATA,
  PIXEL_MASK,
  X_TRUE,
  average,
  decodeReference,
  inpaintProblem,
  recordingContext,
  stats,
} from './baselines-helpers.js';

export const N = 120;
export type Run = (
  prior: DiffusionPrior,
  op: MeasurementOperator,
  ctx: SolverContext,
) => Promise<tf.Tensor4D>;

export interface Case {
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

/** sqrt(E ||y - A(x)||^2) for x from the prior: sum over observed (x_true - m)^2 + std^2. */
function uncondResidual(mask: number[], xTrue: number[], mean: number[], std: number[]): number {
  let r2 = 0;
  mask.forEach((m, j) => {
    if (m === 1) r2 += ((xTrue[j] as number) - (mean[j] as number)) ** 2 + (std[j] as number) ** 2;
  });
  return Math.sqrt(r2);
}

/** Prior std of each image pixel: s (pixel prior) or s_z ||row p of M|| (latent prior). */
function pixelStd(space: 'pixel' | 'latent'): number[] {
  return Array.from({ length: 16 }, (_, j) => {
    if (space === 'pixel') return PIXEL_DATA.std;
    const p = (Math.floor(j / 4) % 2) * 2 + (j % 2);
    const row = DECODER_M[p] as number[];
    return LATENT_DATA.std * Math.hypot(row[0] as number, row[1] as number);
  });
}

export async function check(
  prior: DiffusionPrior,
  space: 'pixel' | 'latent',
  c: Case,
  seed: number,
): Promise<void> {
  const mask = space === 'pixel' ? PIXEL_MASK : BLOCK_MASK;
  const xTrue = space === 'pixel' ? X_TRUE : X_LATENT;
  const priorMean = space === 'pixel' ? PIXEL_DATA.mean : decodeReference(LATENT_DATA.mean, 1);
  const std = pixelStd(space);
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
    mask.forEach((m, j) => {
      if (m === 0) {
        const se = (std[j] as number) / Math.sqrt(N);
        const err = Math.abs((st.mean[j] as number) - (priorMean[j] as number));
        assert.ok(
          err <= 5 * se,
          `${c.name} (${space}): missing pixel ${j} mean off by ${err} (> 5 se ${5 * se})`,
        );
      }
    });
    const unc = uncondResidual(mask, xTrue, priorMean, std);
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

export function pixelCases(kind: 'vp' | 'edm'): Case[] {
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

export function latentCases(): Case[] {
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
      name: 'RePaint latent',
      run: (p, op, ctx) => repaint(p, op, { samples: N, steps: 20, jumpLength: 5, resamplings: 3 }, ctx),
      observedTol: 1e-5,
      calls: () => ({ forward: 50, gradient: 0 }),
    },
    {
      name: 'CoPaint latent (fixed lr)',
      run: (p, op, ctx) =>
        copaint(p, op, { samples: N, steps: COPAINT_STEPS, lr: 0.2, adaptiveLr: false }, ctx),
      observedTol: 0.02,
      calls: () => ({ forward: COPAINT_STEPS, gradient: 2 * COPAINT_STEPS }),
    },
    {
      name: 'RED-diff latent (lambda 0.25)',
      run: (p, op, ctx) => redDiff(p, op, { samples: N, steps: 100, lambda: 0.25 }, ctx),
      observedTol: 0.2,
      calls: () => ({ forward: 100, gradient: 0 }),
    },
  ];
}

export const RESAMPLE_OPTS = { samples: N, steps: 60, optSteps: 100, latentLr: 0.02, pixelLr: 0.02 };
