/**
 * Every baseline node runs as a pipeline stage on a tiny LDM (few steps), counts its network
 * calls into run.json, and refuses what it cannot do: latent-only methods on a pixel prior,
 * mask-only methods on a non-inpainting operator.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { loadPlan } from '../../src/graph/plan.js';
import { runPlan } from '../../src/runtime/execute.js';
import { initBackend } from '../../src/runtime/backend.js';
import { REPO, tempDir } from '../engine/helpers.js';
import { writeTinyEdm, writeTinyLdm } from '../models/tiny-models.js';

await initBackend('wasm');
const dir = await tempDir();
const ldm = await writeTinyLdm(dir);
const edm = await writeTinyEdm(dir);
const image = path.join(REPO, 'assets/images/64/coffee.png');

const methods: Record<string, string> = {
  'baseline.dps': '{ steps: 3 }',
  'baseline.psld': '{ steps: 3 }',
  'baseline.resample': '{ steps: 4, interval: 2, lookahead: 1, optSteps: 2 }',
  'baseline.red-diff': '{ steps: 3 }',
  'baseline.blended': '{ steps: 3 }',
  'baseline.repaint': '{ steps: 4, jumpLength: 2, resamplings: 2 }',
  'baseline.copaint': '{ steps: 3, gradSteps: 1 }',
};

function pipeline(model: string, channels: number, measure: string, nodes: string): string {
  return `version: 1
name: baselines-tiny
params: { seed: 2 }
nodes:
  img: { type: load, params: { path: ${image}, size: 16, channels: ${channels} } }
  prior: { type: model, params: { path: ${model} } }
  measure: ${measure}
${nodes}`;
}

test('each baseline node produces N samples and reports its network calls', async () => {
  const nodes = Object.entries(methods)
    .map(
      ([type, params], i) =>
        `  m${i}: { type: ${type}, inputs: { model: prior.model, operator: measure.operator }, params: { samples: 2, ${params.slice(1)} }`,
    )
    .join('\n');
  const file = path.join(dir, 'all.yaml');
  await writeFile(
    file,
    pipeline(ldm, 3, '{ type: measure.inpaint, inputs: { image: img.image } }', nodes + '\n'),
  );
  const keep = Object.keys(methods).map((_, i) => `m${i}.image`);
  const before = tf.memory().numTensors;
  const { outputs, summary } = await runPlan(await loadPlan(file), { cache: false, keep }).result;
  Object.keys(methods).forEach((type, i) => {
    const img = outputs[`m${i}.image`]?.get('coffee') as tf.Tensor4D;
    assert.deepEqual(img.shape, [2, 16, 16, 3], type);
    img.dispose();
    const calls = summary.nodes[`m${i}`]?.calls;
    assert.ok(calls && calls.forward + calls.gradient > 0, `${type} counts calls`);
  });
  assert.equal(summary.nodes.m0?.calls.gradient, 3, 'DPS: one differentiated call per step');
  assert.equal(tf.memory().numTensors, before);
});

test('latent-only methods refuse pixel priors; mask-only methods refuse other operators', async () => {
  const run = async (text: string) => {
    const file = path.join(dir, `bad-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(file, text);
    return runPlan(await loadPlan(file), { cache: false }).result;
  };
  const inpaintEdm = '{ type: measure.inpaint, inputs: { image: img.image } }';
  await assert.rejects(
    run(
      pipeline(
        edm,
        1,
        inpaintEdm,
        '  s: { type: baseline.psld, inputs: { model: prior.model, operator: measure.operator } }\n',
      ),
    ),
    /node 's': this solver needs a latent prior but 'tiny-edm' is a pixel prior/,
  );
  await assert.rejects(
    run(
      pipeline(
        ldm,
        3,
        '{ type: measure.sr, inputs: { image: img.image }, params: { factor: 2 } }',
        '  s: { type: baseline.repaint, inputs: { model: prior.model, operator: measure.operator }, params: { steps: 2 } }\n',
      ),
    ),
    /RePaint.*(mask|inpaint)/i,
  );
});
