/**
 * Sample diversity against closed forms (two samples: std = |a - b| / 2; identical samples: 0)
 * and against an independent float64 computation by E[x^2] - E[x]^2 on random samples, whole
 * image and over a region; tolerance 1e-6 (the float32 tensors are the only rounding).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backends.js';
import { diversity } from '../../src/metric/diversity.js';
import { Rng } from '../../src/util/random.js';

test('diversity: closed forms for identical samples and two opposite samples', async () => {
  await useBackend('cpu');
  const same = tf.fill([3, 4, 4, 1], 0.25) as tf.Tensor4D;
  assert.equal(diversity(same), 0);
  // -1 and 1 map to 0 and 1 on the unit scale: the std of {0, 1} is 0.5 at every pixel.
  const opposite = tf.concat([tf.fill([1, 4, 4, 2], -1), tf.fill([1, 4, 4, 2], 1)]) as tf.Tensor4D;
  assert.equal(diversity(opposite), 0.5);
  // Values beyond [-1, 1] are clipped first, as in saved images.
  const beyond = tf.concat([tf.fill([1, 4, 4, 1], -3), tf.fill([1, 4, 4, 1], 3)]) as tf.Tensor4D;
  assert.equal(diversity(beyond), 0.5);
  assert.throws(() => diversity(tf.zeros([1, 4, 4, 1]) as tf.Tensor4D), /at least 2 samples/);
  tf.dispose([same, opposite, beyond]);
});

test('diversity: random samples against float64 E[x^2] - E[x]^2, whole image and region', async () => {
  await useBackend('cpu');
  const rng = new Rng(3);
  const [n, h, w, c] = [5, 6, 7, 3];
  const values = Float32Array.from({ length: n * h * w * c }, () => Math.tanh(rng.normal()));
  const region = Array.from({ length: h * w }, (_, i) => (i % 3 === 0 ? 1 : 0));
  const images = tf.tensor4d(values, [n, h, w, c]);
  const reference = (useRegion: boolean): number => {
    let sum = 0;
    let count = 0;
    for (let p = 0; p < h * w; p++) {
      if (useRegion && region[p] === 0) continue;
      for (let ch = 0; ch < c; ch++) {
        let m1 = 0;
        let m2 = 0;
        for (let k = 0; k < n; k++) {
          const v = ((values[(k * h * w + p) * c + ch] as number) + 1) / 2;
          m1 += v / n;
          m2 += (v * v) / n;
        }
        sum += Math.sqrt(Math.max(0, m2 - m1 * m1));
        count++;
      }
    }
    return sum / count;
  };
  assert.ok(Math.abs(diversity(images) - reference(false)) < 1e-6);
  assert.ok(Math.abs(diversity(images, { region }) - reference(true)) < 1e-6);
  assert.ok(diversity(images, { region }) > 0.1);
  images.dispose();
});
