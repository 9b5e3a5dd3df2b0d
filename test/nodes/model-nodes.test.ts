/**
 * The model-facing nodes in a pipeline: model -> sample (DDIM on an LDM, Heun on a pixel EDM
 * prior, class-conditional with guidance) -> save; encode/decode; schedule keypoints; and the
 * cache keyed on the model folder's digest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFile, appendFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { loadPlan } from '../../src/graph/plan.js';
import { runPlan } from '../../src/runtime/execute.js';
import { StageCache } from '../../src/runtime/cache.js';
import { initBackend } from '../../src/runtime/backend.js';
import { tempDir } from '../engine/helpers.js';
import { writeTinyEdm, writeTinyLdm } from '../models/tiny-models.js';

await initBackend('wasm');
const dir = await tempDir();
const ldm = await writeTinyLdm(dir);
const edm = await writeTinyEdm(dir);

const pipelineText = `version: 1
name: sample-tiny
params: { seed: 5 }
models: { ldm: ${ldm}, edm: ${edm} }
nodes:
  ldm: { type: model, params: { path: '\${models.ldm}' } }
  edm: { type: model, params: { path: '\${models.edm}' } }
  ldm-samples:
    type: sample
    inputs: { model: ldm.model }
    params: { steps: 4, classes: [0, 1], samples: 2, guidance: 2 }
  edm-samples:
    type: sample
    inputs: { model: edm.model }
    params: { steps: 3, samples: 3 }
  recode:
    type: encode
    inputs: { model: ldm.model, image: ldm-samples.image }
  decoded:
    type: decode
    inputs: { model: ldm.model, latent: recode.latent }
  keypoints:
    type: schedule
    inputs: { model: ldm.model }
  keypoints-edm:
    type: schedule
    inputs: { model: edm.model }
    params: { K: 4 }
  save:
    type: save
    inputs: { samples: ldm-samples.image }
`;

test('sample, encode, decode and schedule nodes run on model folders', async () => {
  const file = path.join(dir, 'p.yaml');
  await writeFile(file, pipelineText);
  const before = tf.memory().numTensors;
  const plan = await loadPlan(file);
  const keep = [
    'ldm-samples.image',
    'ldm-samples.labels',
    'edm-samples.image',
    'decoded.image',
    'keypoints.schedule',
    'keypoints-edm.schedule',
  ];
  const { outputs, summary, files } = await runPlan(plan, {
    keep,
    cache: new StageCache({ dir: path.join(dir, 'cache') }),
  }).result;
  const get = (k: string): unknown => outputs[k]?.get('');
  const img = get('ldm-samples.image') as tf.Tensor4D;
  assert.deepEqual(img.shape, [4, 16, 16, 3]);
  assert.deepEqual(get('ldm-samples.labels'), [0, 0, 1, 1]);
  const values = await img.data();
  const [lo, hi] = [Math.min(...values), Math.max(...values)];
  assert.ok(lo >= -1 && hi <= 1 && hi > lo, 'decoded samples clipped to [-1, 1] and not constant');
  assert.deepEqual((get('edm-samples.image') as tf.Tensor).shape, [3, 16, 16, 1]);
  assert.deepEqual((get('decoded.image') as tf.Tensor).shape, [4, 16, 16, 3]);
  assert.deepEqual((get('keypoints.schedule') as { keypoints: number[] }).keypoints, [550, 400]);
  assert.deepEqual((get('keypoints-edm.schedule') as { keypoints: number[] }).keypoints, [5, 4, 3.5, 2.5, 2]);
  // Guided DDIM: 4 steps, one (batched) network call each. Heun 3 levels: 2 * 3 - 1 = 5 calls.
  assert.equal(summary.nodes['ldm-samples']?.calls.forward, 4);
  assert.equal(summary.nodes['edm-samples']?.calls.forward, 5);
  assert.ok(files.some((f) => f.path === 'result/grid.png'));
  for (const m of Object.values(outputs)) for (const v of m.values()) if (v instanceof tf.Tensor) v.dispose();
  assert.equal(tf.memory().numTensors, before, 'models and intermediates freed');
});

test('the stage cache keys on the model folder digest', async () => {
  const file = path.join(dir, 'p.yaml');
  await writeFile(file, pipelineText);
  const cacheDir = path.join(dir, 'cache2');
  const first = await runPlan(await loadPlan(file), { cache: new StageCache({ dir: cacheDir }) }).result;
  assert.equal(first.summary.nodes['ldm-samples']?.cacheHits, 0);
  const second = await runPlan(await loadPlan(file), { cache: new StageCache({ dir: cacheDir }) }).result;
  assert.equal(second.summary.nodes['ldm-samples']?.cacheHits, 1);
  // Any change to the model folder changes its digest: downstream stages recompute.
  await appendFile(path.join(ldm, 'model.yaml'), '# touched\n');
  const third = await runPlan(await loadPlan(file), { cache: new StageCache({ dir: cacheDir }) }).result;
  assert.equal(third.summary.nodes['ldm-samples']?.cacheHits, 0);
  assert.equal(third.summary.nodes['edm-samples']?.cacheHits, 1, 'the other model is unchanged');
});

test('model-node errors: wrong sampler, class out of range, image of the wrong size', async () => {
  const bad = async (nodes: string, re: RegExp) => {
    const file = path.join(dir, `bad-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(
      file,
      `version: 1\nname: bad\nmodels: { ldm: ${ldm} }\nnodes:\n  ldm: { type: model, params: { path: '\${models.ldm}' } }\n${nodes}`,
    );
    await assert.rejects(runPlan(await loadPlan(file), { cache: false }).result, re);
  };
  await bad(
    '  s: { type: sample, inputs: { model: ldm.model }, params: { sampler: heun } }\n',
    /heun needs an EDM or VE prior/,
  );
  await bad(
    '  s: { type: sample, inputs: { model: ldm.model }, params: { classes: [2] } }\n',
    /class 2 is out of range \(model has 2 classes\)/,
  );
  await bad(
    `  img: { type: load, params: { path: ${path.resolve('assets/images/64/camera.png')} } }\n  e: { type: encode, inputs: { model: ldm.model, image: img.image } }\n`,
    /the image is 64x64x3 per sample but the model expects 16x16x3/,
  );
  await bad(
    '  k: { type: schedule, inputs: { model: ldm.model }, params: { keypoints: [400, 550] } }\n',
    /node 'k': .*decreas/,
  );
});
