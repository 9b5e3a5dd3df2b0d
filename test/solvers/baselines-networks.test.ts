/**
 * Every baseline through REAL networks: the tiny LDM (CompVis UNet + AutoencoderKL, 16x16x3 images,
 * 8x8x4 latents) and the tiny pixel EDM (DhariwalUNet, 16x16x1) built from the parity fixtures by
 * `loadModel`, a few steps each. The weights are random-ish test weights, so only the plumbing is
 * checked: gradients through the UNet, the decoder and the encoder run, samples have the right
 * shape, are finite and in [-1, 1], the call counts follow each method's formula, and nothing leaks
 * (measured on a second run: the networks cache some tensors on first use).
 * wasm only: the same code paths are checked numerically on both backends by the Gaussian-prior
 * tests, and the cpu backend is ~50x slower on convolutions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backends.js';
import { tempDir } from '../engine/helpers.js';
import { writeTinyEdm, writeTinyLdm } from '../models/tiny-models.js';
import { loadModel, type LoadedModel } from '../../src/models/build.js';
import { InpaintOperator } from '../../src/physics/inpaint.js';
import { SuperResolutionOperator } from '../../src/physics/sr.js';
import type { MeasurementOperator } from '../../src/physics/operator.js';
import type { CallCounts, DiffusionPrior } from '../../src/solvers/prior.js';
import { Rng } from '../../src/util/random.js';
import {
  blended,
  copaint,
  copaintSequence,
  copaintTT,
  dps,
  jumpSchedule,
  psld,
  redDiff,
  repaint,
  resample,
  resampleCallCounts,
  reverseStepCount,
  type SolverContext,
} from '../../src/solvers/baselines/index.js';

const N = 2;
type Run = (p: DiffusionPrior, op: MeasurementOperator, ctx: SolverContext) => Promise<tf.Tensor4D>;

function image(h: number, w: number, c: number): tf.Tensor4D {
  const v = Array.from({ length: h * w * c }, (_, i) => 0.8 * Math.sin(0.37 * i) * Math.cos(0.11 * i));
  return tf.tensor4d(v, [1, h, w, c]);
}

function inpaint(h: number, w: number, c: number): InpaintOperator {
  const x = image(h, w, c);
  const mask = tf.tensor4d(
    Array.from({ length: h * w }, (_, i) => (i % w < w / 2 ? 1 : 0)),
    [1, h, w, 1],
  );
  const op = InpaintOperator.measure(x, mask, {}, new Rng(1));
  x.dispose();
  mask.dispose();
  return op;
}

async function runCase(
  prior: DiffusionPrior,
  op: MeasurementOperator,
  name: string,
  run: Run,
  calls: CallCounts | ((c: CallCounts) => void),
): Promise<void> {
  // Warm-up: the networks create some tensors lazily on their first forward / gradient call
  // (cached kernels), which must not count as a solver leak.
  (await run(prior, op, { rng: new Rng(3) })).dispose();
  const before = tf.memory().numTensors;
  const got: CallCounts = { forward: 0, gradient: 0 };
  const ctx: SolverContext = { rng: new Rng(4), onCalls: (k, n = 1) => (got[k] += n) };
  const out = await run(prior, op, ctx);
  assert.deepEqual(out.shape, [N, ...prior.imageShape], `${name}: shape`);
  const values = out.dataSync();
  out.dispose();
  assert.equal(tf.memory().numTensors, before, `${name}: leaked tensors`);
  for (const v of values) assert.ok(Number.isFinite(v) && v >= -1 && v <= 1, `${name}: value ${v}`);
  if (typeof calls === 'function') calls(got);
  else assert.deepEqual(got, calls, `${name}: calls`);
}

const maskCases = (): [string, Run, CallCounts | ((c: CallCounts) => void)][] => [
  ['Blended', (p, op, c) => blended(p, op, { samples: N, steps: 3 }, c), { forward: 3, gradient: 0 }],
  [
    'RePaint',
    (p, op, c) => repaint(p, op, { samples: N, steps: 4, jumpLength: 2, resamplings: 2 }, c),
    { forward: reverseStepCount(jumpSchedule(4, 2, 2)), gradient: 0 },
  ],
  [
    'CoPaint',
    (p, op, c) => copaint(p, op, { samples: N, steps: 3, gradSteps: 1, adaptiveLr: false }, c),
    { forward: 3, gradient: 3 },
  ],
  [
    'CoPaint-TT',
    (p, op, c) => copaintTT(p, op, { samples: N, steps: 4, gradSteps: 1, jumpLength: 2, jumpNSample: 2 }, c),
    (got) => {
      const reverse = reverseStepCount(
        copaintSequence({ steps: 4, jumpLength: 2, jumpNSample: 2, timeTravel: true }),
      );
      assert.equal(
        got.gradient,
        reverse + 1,
        'CoPaint-TT: one optimisation per reverse step + one before the jump',
      );
      assert.ok(got.forward >= got.gradient);
    },
  ],
];

const generalCases = (latent: boolean): [string, Run, CallCounts][] => {
  const rs = { samples: N, steps: 4, interval: 2, optSteps: 3, lookahead: 1 };
  const out: [string, Run, CallCounts][] = [
    ['DPS', (p, op, c) => dps(p, op, { samples: N, steps: 3 }, c), { forward: 0, gradient: 3 }],
    ['RED-diff', (p, op, c) => redDiff(p, op, { samples: N, steps: 3 }, c), { forward: 3, gradient: 0 }],
  ];
  if (latent) {
    out.push(['PSLD', (p, op, c) => psld(p, op, { samples: N, steps: 3 }, c), { forward: 0, gradient: 3 }]);
    out.push(['ReSample', (p, op, c) => resample(p, op, rs, c), resampleCallCounts(rs)]);
  }
  return out;
};

async function withModel(
  write: (dir: string) => Promise<string>,
  body: (m: LoadedModel) => Promise<void>,
): Promise<void> {
  await useBackend('wasm');
  const model = await loadModel(await write(await tempDir()));
  try {
    await body(model);
  } finally {
    model.dispose();
  }
}

test('baselines run through the tiny LDM (UNet, decoder and encoder gradients)', async () => {
  await withModel(writeTinyLdm, async (model) => {
    const prior = model.prior();
    const [h, w, c] = prior.imageShape;
    const op = inpaint(h, w, c);
    const x = image(h, w, c);
    const sr = SuperResolutionOperator.measure(x, { factor: 2 }, new Rng(2));
    x.dispose();
    try {
      for (const [name, run, calls] of [...maskCases(), ...generalCases(true)])
        await runCase(prior, op, name, run, calls);
      for (const [name, run, calls] of generalCases(true))
        await runCase(prior, sr, `${name} (SR)`, run, calls);
    } finally {
      op.dispose();
      sr.dispose();
    }
  });
});

test('pixel baselines run through the tiny EDM prior', async () => {
  await withModel(writeTinyEdm, async (model) => {
    const prior = model.prior();
    const [h, w, c] = prior.imageShape;
    const op = inpaint(h, w, c);
    try {
      for (const [name, run, calls] of [...maskCases(), ...generalCases(false)])
        await runCase(prior, op, name, run, calls);
    } finally {
      op.dispose();
    }
  });
});
