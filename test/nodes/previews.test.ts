/**
 * Live previews (run option `previewEvery`): every solver node emits its decoded prediction every
 * k steps and at its last step, the results are bit-identical to a run without previews, and no
 * tensor is left behind. Tiny LDM fixture, a few steps per solver.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { loadPlan } from '../../src/graph/plan.js';
import { runPlan } from '../../src/runtime/execute.js';
import { initBackend } from '../../src/runtime/backend.js';
import type { FlowEvent } from '../../src/runtime/events.js';
import { floatToUint8 } from '../../src/io/pixels.js';
import { REPO, tempDir } from '../engine/helpers.js';
import { withLikelihoodScale, writeTinyLdm } from '../models/tiny-models.js';

await initBackend('wasm');
const dir = await tempDir();
const ldm = await withLikelihoodScale(await writeTinyLdm(dir));
const image = path.join(REPO, 'assets/images/64/chelsea.png');

const solvers: Record<string, { type: string; params: string; steps: number }> = {
  fit: { type: 'posterior-fit', params: '{ iterations: 3, batch: 2 }', steps: 3 },
  dps: { type: 'baseline.dps', params: '{ steps: 4, samples: 2 }', steps: 4 },
  blended: { type: 'baseline.blended', params: '{ steps: 3, samples: 2 }', steps: 3 },
  red: { type: 'baseline.red-diff', params: '{ steps: 3, samples: 2 }', steps: 3 },
  repaint: {
    type: 'baseline.repaint',
    params: '{ steps: 2, jumpLength: 1, resamplings: 2, samples: 2 }',
    steps: 3,
  },
  copaint: { type: 'baseline.copaint', params: '{ steps: 3, gradSteps: 1, samples: 2 }', steps: 2 },
  resample: {
    type: 'baseline.resample',
    params: '{ steps: 4, interval: 2, lookahead: 1, optSteps: 2, samples: 2 }',
    steps: 4,
  },
};

const pipeline = `version: 1
name: previews-tiny
params: { seed: 5 }
nodes:
  img: { type: load, params: { path: ${image}, size: 16 } }
  ldm: { type: model, params: { path: ${ldm} } }
  measure: { type: measure.inpaint, inputs: { image: img.image }, params: { mask: rotated } }
${Object.entries(solvers)
  .map(
    ([id, s]) =>
      `  ${id}: { type: ${s.type}, inputs: { model: ldm.model, operator: measure.operator }, params: ${s.params} }`,
  )
  .join('\n')}
  draw: { type: ancestral-sample, inputs: { model: ldm.model, posterior: fit.posterior }, params: { samples: 2 } }
  refine:
    type: dps-refine
    inputs: { model: ldm.model, operator: measure.operator, latent: draw.latent, posterior: fit.posterior }
    params: { steps: 3 }
  gen: { type: sample, inputs: { model: ldm.model }, params: { steps: 3, samples: 2 } }
`;
const outputsOf = [
  'refine.image',
  'gen.image',
  ...Object.keys(solvers)
    .filter((s) => s !== 'fit')
    .map((s) => `${s}.image`),
];

async function run(
  previewEvery?: number,
): Promise<{ images: Map<string, Float32Array>; events: FlowEvent[] }> {
  const file = path.join(dir, 'p.yaml');
  await writeFile(file, pipeline);
  const handle = runPlan(await loadPlan(file), { cache: false, keep: outputsOf, previewEvery });
  const events: FlowEvent[] = [];
  handle.events$.subscribe((e) => events.push(e));
  const { outputs } = await handle.result;
  const images = new Map<string, Float32Array>();
  for (const k of outputsOf) {
    const t = outputs[k]?.get(k.startsWith('gen') ? '' : 'chelsea') as tf.Tensor4D;
    images.set(k, t.dataSync() as Float32Array);
    t.dispose();
  }
  return { images, events };
}

test('previews: every solver streams decoded predictions; same results; no tensors kept', async () => {
  const before = tf.memory().numTensors;
  const plain = await run();
  assert.equal(tf.memory().numTensors, before, 'no tensors left after a run without previews');
  assert.equal(plain.events.filter((e) => e.type === 'preview').length, 0, 'previews are off by default');
  const shown = await run(2);
  assert.equal(tf.memory().numTensors, before, 'no tensors left after a run with previews');
  for (const [k, v] of plain.images)
    assert.deepEqual(shown.images.get(k), v, `${k}: same result with previews`);

  const previews = shown.events.filter(
    (e): e is Extract<FlowEvent, { type: 'preview' }> => e.type === 'preview',
  );
  const steps = (node: string): number[] => previews.filter((p) => p.node === node).map((p) => p.step);
  for (const [id, s] of Object.entries(solvers)) {
    const want = [...Array.from({ length: Math.floor(s.steps / 2) }, (_, i) => 2 * (i + 1))];
    if (s.steps % 2 === 1) want.push(s.steps);
    if (id === 'repaint' || id === 'copaint') {
      // Time-travel methods preview their reverse steps only; the last step is always one.
      assert.ok(
        steps(id).includes(previews.find((p) => p.node === id)?.total ?? -1),
        `${id} previews its last step`,
      );
    } else assert.deepEqual(steps(id), want, `${id}: previews at every 2nd step and the last`);
  }
  assert.deepEqual(steps('refine'), [2, 3]);
  assert.deepEqual(steps('draw'), [1], 'K = 2: one transition down the hierarchy');
  assert.deepEqual(steps('gen'), [2, 3]);
  for (const p of previews) {
    assert.equal(p.item, p.node === 'gen' ? undefined : 'chelsea');
    assert.equal(p.count, 2);
    assert.deepEqual(
      [p.height, p.width, p.channels],
      [16, 32, 3],
      `${p.node}: two 16x16 RGB images side by side`,
    );
    assert.equal(p.pixels.length, 16 * 32 * 3);
  }
  // DDIM's last step lands on x_hat: the last preview of `sample` is its output, image by image.
  const last = previews.filter((p) => p.node === 'gen').at(-1);
  const out = shown.images.get('gen.image') as Float32Array;
  const strip = new Float32Array(16 * 32 * 3);
  for (let n = 0; n < 2; n++)
    for (let y = 0; y < 16; y++)
      for (let x = 0; x < 16; x++)
        for (let c = 0; c < 3; c++)
          strip[(y * 32 + n * 16 + x) * 3 + c] = out[((n * 16 + y) * 16 + x) * 3 + c] as number;
  const expected = floatToUint8(strip);
  const maxDiff = Math.max(...Array.from(expected, (v, i) => Math.abs(v - (last?.pixels[i] as number))));
  assert.ok(maxDiff <= 1, `the last sampler preview is the output (max 8-bit difference ${maxDiff})`);
});

test('previews: a bad previewEvery is refused before anything runs', async () => {
  const file = path.join(dir, 'p.yaml');
  await writeFile(file, pipeline);
  await assert.rejects(
    runPlan(await loadPlan(file), { cache: false, previewEvery: 1.5 }).result,
    /previewEvery must be a non-negative integer, got 1.5/,
  );
});
