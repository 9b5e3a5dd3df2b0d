/**
 * Cross-attention model folders through `loadModel`: a class-embedder model (cin256-v2 layout:
 * cond_stage_model.embedding.weight feeding the SpatialTransformers, the last row the null class)
 * and a context model (Stable Diffusion layout: the context bound when the prior is made) reproduce
 * the PyTorch fixtures of scripts/fixtures/cross_attention.py through the Denoiser interface.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadUNetFixture, type UNetFixture } from '../networks/unet-fixture.js';
import type { TensorMap } from '../../src/checkpoint/types.js';
import { writeModelFolder } from '../../src/models/folder.js';
import type { ModelManifest } from '../../src/models/manifest.js';
import { loadModel, type LoadedModel } from '../../src/models/build.js';
import { writeFile } from 'node:fs/promises';
import { writeSafetensors } from '../../src/checkpoint/safetensors.js';
import contextNode from '../../src/nodes/context.js';
import modelNode from '../../src/nodes/model.js';
import { makeTestContext } from '../helpers/context.js';
import { tempDir } from '../engine/helpers.js';
import { TINY_CIN_CONDITIONING } from './tiny-models.js';
import { relErr, useBackend } from '../helpers/backends.js';

const TOL = 1e-5;

function io(f: UNetFixture, k: string): tf.Tensor {
  const t = f.io.get(k);
  if (!t) throw new Error(`fixture lacks ${k}`);
  return tf.tensor(Float32Array.from(t.data), t.shape);
}

function base(f: UNetFixture, name: string): ModelManifest {
  return {
    name,
    kind: 'pixel-diffusion',
    architecture: { type: 'openai-unet', config: f.config },
    weightsPrefix: 'model.diffusion_model.',
    schedule: { family: 'vp-discrete', betaSchedule: 'scaled_linear', numSteps: 1000 },
    prediction: 'eps',
    dataShape: [8, 8, 4],
  };
}

function prefixed(w: TensorMap, prefix: string): TensorMap {
  return new Map([...w].map(([k, v]) => [`${prefix}${k}`, v]));
}

test('a class-embedder model (cin256-v2 layout) matches PyTorch, the last embedding row being the null class', async () => {
  await useBackend('wasm');
  const f = await loadUNetFixture('unet-openai-st-cin');
  const emb = f.io.get('embedding');
  assert.ok(emb);
  const dir = path.join(await tempDir(), 'cin-tiny');
  const tensors = prefixed(f.weights, 'model.diffusion_model.');
  tensors.set('cond_stage_model.embedding.weight', emb);
  await writeModelFolder(
    dir,
    {
      ...base(f, 'cin-tiny'),
      ...TINY_CIN_CONDITIONING,
    },
    tensors,
  );
  const model = await loadModel(dir);
  // The fixture's labels are [2, 4]: class 2 and the null class.
  assert.deepEqual(Array.from(f.io.get('y')?.data ?? []), [2, 4]);
  const x = io(f, 'x') as tf.Tensor4D;
  const t = io(f, 't') as tf.Tensor1D;
  const want = await io(f, 'out').data();
  const labels = tf.tensor1d([2, 4], 'int32');
  const eps = model.denoiser?.predictEps(x, t, labels) as tf.Tensor;
  const err = relErr(await eps.data(), want);
  assert.ok(err < TOL, `labelled rel err ${err}`);
  // Guidance at scale 1 with label 2 is the conditional model; without labels the null class is used.
  const guided = model.prior({ labels: 2, guidance: 1 }).denoiser;
  const x0 = x.slice([0, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
  const g = guided.predictEps(x0, 37);
  const n = x.size / 2;
  assert.ok(relErr(await g.data(), want.slice(0, n)) < TOL);
  const x1 = x.slice([1, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
  const u = model.denoiser?.predictEps(x1, 811) as tf.Tensor;
  assert.ok(relErr(await u.data(), want.slice(n)) < TOL);
  assert.throws(() => model.denoiser?.predictEps(x0, 37, tf.tensor1d([5], 'int32')), /class label 5 outside/);
  // After the first calls (which cache kernel-ready weights) a call leaves nothing behind.
  const before = tf.memory().numTensors;
  tf.dispose(model.denoiser?.predictEps(x, t, labels));
  assert.equal(tf.memory().numTensors, before, 'a call leaves nothing behind');
  tf.dispose([x, t, labels, eps, x0, g, x1, u]);
  model.dispose();
});

test('a context model (Stable Diffusion layout) matches PyTorch with the context bound to the prior', async () => {
  await useBackend('wasm');
  const f = await loadUNetFixture('unet-openai-st-linear');
  const dir = path.join(await tempDir(), 'ctx-tiny');
  await writeModelFolder(
    dir,
    { ...base(f, 'ctx-tiny'), conditioning: { type: 'context', config: { context_dim: 12, tokens: 4 } } },
    prefixed(f.weights, 'model.diffusion_model.'),
  );
  const model = await loadModel(dir);
  const x = io(f, 'x') as tf.Tensor4D;
  const context = io(f, 'context');
  const want = await io(f, 'out').data();
  const n = x.size / 2;
  for (const i of [0, 1]) {
    const ci = context.slice([i, 0, 0], [1, -1, -1]);
    const prior = model.prior({ context: ci, guidance: 1 });
    const xi = x.slice([i, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
    const eps = prior.denoiser.predictEps(xi, i === 0 ? 37 : 811);
    const err = relErr(await eps.data(), want.slice(i * n, (i + 1) * n));
    assert.ok(err < TOL, `sample ${i} rel err ${err}`);
    tf.dispose([ci, xi, eps]);
  }
  assert.throws(() => model.prior({}), /needs a context \[tokens, 12\]/);
  const wrong = tf.zeros([4, 7]);
  assert.throws(() => model.prior({ context: wrong }), /must be \[tokens, 12\]/);
  tf.dispose([x, context, wrong]);
  model.dispose();
});

/** A .npy file (format 1.0, little-endian float32, C order), written here independently of the reader. */
function npyBytes(values: Float32Array, shape: number[]): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + values.byteLength);
  out.set([0x93, ...Buffer.from('NUMPY'), 1, 0, header.length & 255, header.length >> 8]);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), 10 + header.length);
  return out;
}

test('the context node (.npy or .safetensors) wired into the model node conditions its priors', async () => {
  await useBackend('wasm');
  const f = await loadUNetFixture('unet-openai-st-linear');
  const dir = await tempDir();
  const modelDir = path.join(dir, 'ctx-tiny');
  await writeModelFolder(
    modelDir,
    { ...base(f, 'ctx-tiny'), conditioning: { type: 'context', config: { context_dim: 12, tokens: 4 } } },
    prefixed(f.weights, 'model.diffusion_model.'),
  );
  const all = f.io.get('context');
  assert.ok(all);
  const first = Float32Array.from(all.data).slice(0, 4 * 12);
  await writeFile(path.join(dir, 'c.npy'), npyBytes(first, [4, 12]));
  await writeFile(
    path.join(dir, 'c.safetensors'),
    writeSafetensors(new Map([['ctx', { dtype: 'float32', shape: [1, 4, 12], data: first }]])),
  );
  const x = io(f, 'x').slice([0, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
  const want = (await io(f, 'out').data()).slice(0, x.size);
  for (const file of ['c.npy', 'c.safetensors']) {
    const c = await contextNode.run({}, { path: file }, makeTestContext({ baseDir: dir }));
    const m = (await modelNode.run({ context: c.context }, { path: 'ctx-tiny' }, makeTestContext({ baseDir: dir })))
      .model as LoadedModel;
    const eps = m.prior({ guidance: 1 }).denoiser.predictEps(x, 37);
    const err = relErr(await eps.data(), want);
    assert.ok(err < TOL, `${file}: rel err ${err}`);
    tf.dispose([eps, c.context as tf.Tensor]);
    m.dispose();
  }
  await assert.rejects(
    (async () => contextNode.run({}, { path: 'missing.npy' }, makeTestContext({ baseDir: dir })))(),
    /missing\.npy: cannot read the context \(ENOENT\)/,
  );
  x.dispose();
});
