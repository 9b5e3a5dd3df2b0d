/**
 * The shipped pipelines load and check; the VIPaint pipelines run end to end when pointed at a
 * model folder (here the tiny fixture LDM, with few iterations), through their shared chains.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readdir } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { loadPlan } from '../src/graph/plan.js';
import { runPlan } from '../src/runtime/execute.js';
import { initBackend } from '../src/runtime/backend.js';
import { REPO, tempDir } from './engine/helpers.js';
import { writeTinyLdm } from './models/tiny-models.js';

await initBackend('wasm');

test('every shipped pipeline and chain loads and passes the graph checks', async () => {
  const files = [
    ...(await readdir(path.join(REPO, 'pipelines')))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => path.join('pipelines', f)),
    'examples/custom-node.yaml',
  ];
  assert.ok(files.length >= 5);
  for (const f of files) {
    const plan = await loadPlan(path.join(REPO, f));
    assert.ok(plan.nodes.size > 0, f);
  }
});

for (const name of ['ldm-sr4x', 'ldm-inpaint', 'ldm-deblur']) {
  test(`${name} runs on a model folder through the vipaint and evaluate chains`, async () => {
    const ldm = await writeTinyLdm(await tempDir());
    const plan = await loadPlan(path.join(REPO, `pipelines/${name}.yaml`), {
      overrides: [
        `prior.path=${ldm}`,
        'images=../assets/images/64/c*.png',
        'size=16',
        'channels=3',
        'samples=2',
        'iterations=2',
        'refineSteps=2',
        ...(name === 'ldm-deblur' ? ['measure.size=7', 'sigma=1.0'] : []),
      ],
    });
    const before = tf.memory().numTensors;
    const { summary, files } = await runPlan(plan, { cache: false }).result;
    assert.deepEqual(Object.keys(summary.metrics['evaluate/score'] ?? {}).sort(), [
      'camera',
      'chelsea',
      'coffee',
    ]);
    assert.equal(
      summary.nodes['vipaint/fit']?.calls.gradient,
      3 * 2 * 3,
      '3 images x 2 iterations x (K + 1) calls',
    );
    assert.ok(files.some((f) => f.path === 'camera/grid.png'));
    assert.equal(tf.memory().numTensors, before);
  });
}
