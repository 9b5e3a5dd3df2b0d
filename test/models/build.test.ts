/**
 * Model folders -> networks: an LDM folder (CompVis UNet + AutoencoderKL) and a pixel EDM folder
 * (DhariwalUNet) built through `loadModel` reproduce the PyTorch parity fixtures through the
 * Denoiser / prior interfaces that every solver uses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadAutoencoderFixture } from '../networks/autoencoder-fixture.js';
import { loadUNetFixture } from '../networks/unet-fixture.js';
import type { TensorMap } from '../../src/checkpoint/types.js';
import { writeModelFolder } from '../../src/models/folder.js';
import { writeTinyLdm } from './tiny-models.js';
import { loadModel } from '../../src/models/build.js';
import { DhariwalUNet } from '../../src/networks/unet-dhariwal.js';
import { edmPreconditioning } from '../../src/schedules/edm.js';
import { tempDir } from '../engine/helpers.js';
import { relErr, useBackend } from '../helpers/backends.js';

async function fixture(name: string): Promise<{ weights: TensorMap; io: TensorMap; config: Record<string, unknown> }> {
  return name.startsWith('autoencoder')
    ? loadAutoencoderFixture<Record<string, unknown>>(`${name}.safetensors`)
    : loadUNetFixture(name);
}

function tensorOf(io: TensorMap, k: string): tf.Tensor {
  const t = io.get(k);
  if (!t) throw new Error(`fixture lacks ${k}`);
  return tf.tensor(t.data as Float32Array, t.shape, t.dtype === 'int32' ? 'int32' : 'float32');
}

test('an LDM model folder: UNet denoiser and autoencoder match the PyTorch fixtures', async () => {
  await useBackend('wasm');
  const unet = await fixture('unet-openai-a');
  const ae = await fixture('autoencoder-kl');
  const dir = await writeTinyLdm(await tempDir());
  const before = tf.memory().numTensors;
  const model = await loadModel(dir);
  assert.equal(model.kind, 'ldm');
  assert.match(model.digest, /^[0-9a-f]{64}$/);
  // Sample 0 of the UNet fixture: t = 37 (an integer step), label 2 = the null class of a 2-class model.
  assert.equal(unet.io.get('t')?.data[0], 37);
  assert.equal(unet.io.get('y')?.data[0], 2);
  const [x, want] = tf.tidy(() => [
    tensorOf(unet.io, 'x').slice([0, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D,
    tensorOf(unet.io, 'out').slice([0, 0, 0, 0], [1, -1, -1, -1]),
  ]) as [tf.Tensor4D, tf.Tensor];
  const eps = model.denoiser?.predictEps(x, 37) as tf.Tensor4D; // no labels: the null class
  assert.ok(relErr(await eps.data(), await want.data()) < 1e-4);
  // The prior's decode/encode are the autoencoder (scale factor 1 here).
  const prior = model.prior();
  assert.equal(prior.space, 'latent');
  assert.deepEqual(prior.latentShape, [8, 8, 4]);
  const io = (k: string): tf.Tensor => tensorOf(ae.io, k);
  const [z, decWant, aeX, meanWant] = ['z', 'dec', 'x', 'mean'].map(io) as tf.Tensor4D[];
  const dec = prior.decode(z as tf.Tensor4D);
  const decErr = relErr(await dec.data(), await (decWant as tf.Tensor).data());
  assert.ok(decErr < 1e-4, `decode rel err ${decErr}`);
  const enc = prior.encode(aeX as tf.Tensor4D);
  assert.ok(relErr(await enc.data(), await (meanWant as tf.Tensor).data()) < 1e-4);
  tf.dispose([x, want, eps, dec, enc, z, decWant, aeX, meanWant] as tf.Tensor[]);
  model.dispose();
  assert.equal(tf.memory().numTensors, before, 'model.dispose frees every parameter');
});

test('a pixel EDM model folder: preconditioned D(x; sigma, class) from the DhariwalUNet', async () => {
  await useBackend('wasm');
  const fx = await fixture('unet-dhariwal');
  const config = { ...fx.config, augment_dim: 0 };
  const weights: TensorMap = new Map([...fx.weights].filter(([k]) => !k.startsWith('map_augment')));
  const dir = path.join(await tempDir(), 'tiny-edm');
  await writeModelFolder(
    dir,
    {
      name: 'tiny-edm',
      kind: 'pixel-diffusion',
      architecture: { type: 'dhariwal-unet', config },
      schedule: { family: 'edm', sigmaMin: 0.002, sigmaMax: 80, rho: 7, sigmaData: 0.5 },
      prediction: 'x0',
      preconditioning: 'edm',
      dataShape: [16, 16, 1],
      classes: { count: 3 },
    },
    weights,
  );
  const model = await loadModel(dir);
  const net = DhariwalUNet.load(weights, config as never);
  const x = tensorOf(fx.io, 'x') as tf.Tensor4D;
  for (const [sigma, label] of [
    [0.3, 1],
    [20, 3], // 3 = the null class: all-zero one-hot row
  ] as const) {
    const p = edmPreconditioning(sigma, 0.5);
    const hot = label < 3 ? tf.oneHot([label, label], 3).toFloat() : tf.zeros([2, 3]);
    const f = net.forward(tf.mul(x, p.cIn) as tf.Tensor4D, tf.fill([2], p.cNoise) as tf.Tensor1D, hot as tf.Tensor2D);
    const want = tf.add(tf.mul(x, p.cSkip), tf.mul(f, p.cOut));
    const got = model.denoiser?.predictX0(x, sigma, tf.tensor1d([label, label])) as tf.Tensor4D;
    assert.ok(relErr(await got.data(), await want.data()) < 1e-5, `sigma ${sigma}`);
    tf.dispose([hot, f, want, got]);
  }
  net.dispose();
  model.dispose();
  x.dispose();
});

test('a model folder whose weights do not fit the architecture fails naming the keys', async () => {
  await useBackend('wasm');
  const fx = await fixture('unet-dhariwal');
  const weights: TensorMap = new Map([...fx.weights].filter(([k]) => !k.startsWith('out_conv')));
  const dir = path.join(await tempDir(), 'broken');
  await writeModelFolder(
    dir,
    {
      name: 'broken',
      kind: 'pixel-diffusion',
      architecture: { type: 'dhariwal-unet', config: fx.config },
      schedule: { family: 'edm', sigmaMin: 0.002, sigmaMax: 80, rho: 7, sigmaData: 0.5 },
      prediction: 'x0',
      preconditioning: 'edm',
      dataShape: [16, 16, 1],
    },
    weights,
  );
  await assert.rejects(loadModel(dir), /broken[/\\]model\.yaml: .*missing keys: out_conv\.weight/);
});
