/**
 * The embedded default models shipped in models/: they load through the same path as users'
 * checkpoints and do their jobs on the shipped Fashion-MNIST test images. Thresholds are the
 * issue's quality targets, loosened for the small sample sizes a test can afford.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../../src/models/build.js';
import { readImage } from '../../src/io/image.js';
import { psnr } from '../../src/metric/psnr.js';
import { Rng } from '../../src/util/random.js';
import { sampleDdimAsync, sampleEdmAsync } from '../../src/sampling/sample.js';
import { REPO } from '../engine/helpers.js';
import { useBackend } from '../helpers/backends.js';

const labels = (JSON.parse(await readFile(path.join(REPO, 'assets/fashion/labels.json'), 'utf8')) as { labels: Record<string, number> }).labels;

async function shippedImages(): Promise<{ x: tf.Tensor4D; y: number[] }> {
  const keys = Object.keys(labels).sort();
  const images = await Promise.all(keys.map((k) => readImage(path.join(REPO, `assets/fashion/${k}.png`), { channels: 1 })));
  const x = tf.concat(images, 0) as tf.Tensor4D;
  tf.dispose(images);
  return { x, y: keys.map((k) => labels[k] as number) };
}

test('fashion-classifier classifies the shipped test images', async () => {
  await useBackend('wasm');
  const clf = await loadModel(path.join(REPO, 'models/fashion-classifier'));
  const { x, y } = await shippedImages();
  const predicted = await clf.classifier?.predict(x);
  const correct = (predicted ?? []).filter((p, i) => p === y[i]).length;
  assert.ok(correct >= 13, `${correct}/16 correct (test-set accuracy is 90%)`);
  x.dispose();
  clf.dispose();
});

test('fashion-ldm: the autoencoder reconstructs the shipped images (target 26 dB on the test set)', async () => {
  await useBackend('wasm');
  const ldm = await loadModel(path.join(REPO, 'models/fashion-ldm'));
  const { x } = await shippedImages();
  const prior = ldm.prior();
  const rec = tf.tidy(() => tf.clipByValue(prior.decode(prior.encode(x)), -1, 1) as tf.Tensor4D);
  const values = psnr(rec, x);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  assert.ok(mean > 24, `mean reconstruction PSNR ${mean.toFixed(2)} dB over 16 images`);
  tf.dispose([x, rec]);
  ldm.dispose();
});

/** Draw one guided sample per class and ask the classifier what it sees. */
async function agreement(model: string, draw: (d: NonNullable<Awaited<ReturnType<typeof loadModel>>['denoiser']>, labels: number[]) => Promise<tf.Tensor4D>): Promise<number> {
  const prior = await loadModel(path.join(REPO, `models/${model}`));
  const clf = await loadModel(path.join(REPO, 'models/fashion-classifier'));
  const labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const z = await draw(prior.denoiser as NonNullable<typeof prior.denoiser>, labels);
  const images = tf.tidy(() => tf.clipByValue(prior.prior().decode(z), -1, 1) as tf.Tensor4D);
  const predicted = (await clf.classifier?.predict(images)) ?? [];
  tf.dispose([z, images]);
  prior.dispose();
  clf.dispose();
  return predicted.filter((p, i) => p === labels[i]).length / labels.length;
}

test('fashion-ldm: guided DDIM samples are classified as their class', async () => {
  await useBackend('wasm');
  const a = await agreement('fashion-ldm', (d, labels) =>
    sampleDdimAsync(d, { rng: new Rng(1), shape: [10, 8, 8, 4], steps: 20, labels, guidanceScale: 2 }),
  );
  // 90% over 200 samples at 50 steps in PyTorch; 10 samples at 20 steps here.
  assert.ok(a >= 0.7, `agreement ${a}`);
});

test('fashion-edm: guided Heun samples are classified as their class', async () => {
  await useBackend('wasm');
  const a = await agreement('fashion-edm', (d, labels) =>
    sampleEdmAsync(d, { rng: new Rng(1), shape: [10, 32, 32, 1], steps: 10, labels, guidanceScale: 2 }),
  );
  // 94.5% over 200 samples at 18 steps in PyTorch; 10 samples at 10 steps here.
  assert.ok(a >= 0.7, `agreement ${a}`);
});
