/**
 * The RGB pipelines (ldm256-inpaint, ldm256-sr4x, pixel64-inpaint) run end to end on small
 * stand-in model folders of the same kind as the real ones (not at full size): a class-embedder
 * LDM laid out like cin256-v2 (UNet with SpatialTransformers, ClassEmbedder context, null class,
 * KL autoencoder) and a class-conditional pixel EDM, on photos with a labels.json, so the label
 * and classifier-free guidance reach every stage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { copyFile, writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { loadPlan } from '../src/graph/plan.js';
import { runPlan } from '../src/runtime/execute.js';
import { initBackend } from '../src/runtime/backend.js';
import type { TensorMap } from '../src/checkpoint/types.js';
import { writeModelFolder } from '../src/models/folder.js';
import { REPO, tempDir } from './engine/helpers.js';
import {
  loadTinyLdmFixtures,
  TINY_CIN_CONDITIONING,
  tinyLdmManifest,
  withLikelihoodScale,
  writeTinyEdm,
} from './models/tiny-models.js';
import { loadUNetFixture } from './networks/unet-fixture.js';

await initBackend('wasm');

/** cin256-v2 in miniature: 8x8x4 latents, 4 classes + the null class 4 in the embedder's last row. */
async function writeTinyCin(dir: string): Promise<string> {
  const fx = await loadTinyLdmFixtures();
  const unet = await loadUNetFixture('unet-openai-st-cin');
  const emb = unet.io.get('embedding');
  assert.ok(emb);
  const tensors: TensorMap = new Map();
  for (const [k, v] of unet.weights) tensors.set(`model.diffusion_model.${k}`, v);
  for (const [k, v] of fx.ae.weights) tensors.set(`first_stage_model.${k}`, v);
  tensors.set('cond_stage_model.embedding.weight', emb);
  const out = path.join(dir, 'tiny-cin');
  await writeModelFolder(
    out,
    {
      ...tinyLdmManifest(fx, 'tiny-cin'),
      architecture: { type: 'openai-unet', config: unet.config },
      ...TINY_CIN_CONDITIONING,
    },
    tensors,
  );
  return out;
}

/** Two photos with their classes, as a user would give them. */
async function photos(dir: string): Promise<string> {
  for (const n of ['camera', 'chelsea'])
    await copyFile(path.join(REPO, `assets/images/64/${n}.png`), path.join(dir, `${n}.png`));
  await writeFile(path.join(dir, 'labels.json'), JSON.stringify({ labels: { camera: 1, chelsea: 2 } }));
  return path.join(dir, '*.png');
}

const quick = ['samples=1', 'iterations=1', 'refineSteps=2'];

for (const name of ['ldm256-inpaint', 'ldm256-sr4x']) {
  test(`${name} runs with class guidance on a cin256-v2-like stand-in`, async () => {
    const dir = await tempDir();
    const model = await withLikelihoodScale(await writeTinyCin(dir));
    const plan = await loadPlan(path.join(REPO, `pipelines/${name}.yaml`), {
      overrides: [
        `input/prior.path=${model}`,
        `input/images.path=${await photos(dir)}`,
        'input/images.size=16',
        ...quick,
      ],
    });
    const before = tf.memory().numTensors;
    const { summary, files } = await runPlan(plan, { cache: false }).result;
    assert.deepEqual(Object.keys(summary.metrics['evaluate/score'] ?? {}).sort(), ['camera', 'chelsea']);
    // 2 images x 1 iteration x (K + 1) calls (guidance 3 doubles each call's batch, not the count).
    assert.equal(summary.nodes['vipaint/fit']?.calls.gradient, 2 * 1 * 3);
    assert.ok(files.some((f) => f.path === 'camera/grid.png'));
    assert.equal(tf.memory().numTensors, before);
  });
}

test('pixel64-inpaint runs on a class-conditional pixel EDM stand-in', async () => {
  const dir = await tempDir();
  const model = await withLikelihoodScale(await writeTinyEdm(dir));
  const plan = await loadPlan(path.join(REPO, 'pipelines/pixel64-inpaint.yaml'), {
    overrides: [
      `input/prior.path=${model}`,
      `input/images.path=${await photos(dir)}`,
      'input/images.size=16',
      'input/images.channels=1',
      ...quick,
    ],
  });
  const { summary } = await runPlan(plan, { cache: false }).result;
  assert.equal(Object.keys(summary.metrics['evaluate/score'] ?? {}).length, 2);
});
