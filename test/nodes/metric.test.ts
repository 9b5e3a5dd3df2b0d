/**
 * The `metric` node: per-sample PSNR / SSIM equal to the metric functions (themselves checked
 * against scikit-image in test/metric), summaries, the `_missing` variants with a mask, reported
 * metrics, validation, and no tensor leaks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import { makeTestContext } from '../helpers/context.js';
import metricNode from '../../src/nodes/metric.js';
import { psnr } from '../../src/metric/psnr.js';
import { ssim } from '../../src/metric/ssim.js';
import { diversity } from '../../src/metric/diversity.js';

function images(): { reference: tf.Tensor4D; samples: tf.Tensor4D; mask: tf.Tensor4D } {
  return tf.tidy(() => {
    const reference = tf.sub(
      tf.mul(tf.randomUniform([1, 24, 20, 3], 0, 1, 'float32', 1), 2),
      1,
    ) as tf.Tensor4D;
    const noise = tf.randomNormal([3, 24, 20, 3], 0, 1, 'float32', 2);
    const scales = tf.tensor4d([0.02, 0.1, 0.3], [3, 1, 1, 1]);
    const samples = tf.clipByValue(tf.add(reference, tf.mul(noise, scales)), -1, 1) as tf.Tensor4D;
    // Observed everywhere except a 10 x 8 box.
    const m = new Float32Array(24 * 20).fill(1);
    for (let r = 5; r < 15; r++) for (let c = 4; c < 12; c++) m[r * 20 + c] = 0;
    return { reference, samples, mask: tf.tensor4d(m, [1, 24, 20, 1]) };
  });
}

for (const backend of TEST_BACKENDS) {
  test(`metric node: per-sample values, summaries, missing region, reported metrics [${backend}]`, async () => {
    await useBackend(backend);
    const { reference, samples, mask } = images();
    const before = tf.memory().numTensors;
    const ctx = makeTestContext({ nodeId: 'eval' });
    const out = await metricNode.run({ image: samples, reference, mask }, {}, ctx);
    assert.equal(tf.memory().numTensors, before, 'metric node created tensors');
    const m = out['metrics'] as Record<string, number | number[]>;
    const missing = Float32Array.from(mask.dataSync(), (v) => 1 - v);
    const expected: Record<string, number[]> = {
      psnr: psnr(samples, reference),
      ssim: ssim(samples, reference),
      psnr_missing: psnr(samples, reference, { region: missing }),
      ssim_missing: ssim(samples, reference, { region: missing }),
    };
    for (const [name, values] of Object.entries(expected)) {
      assert.deepEqual(m[name], values);
      assert.equal(values.length, 3);
      // More noise, worse scores.
      assert.ok(
        (values[0] as number) > (values[1] as number) && (values[1] as number) > (values[2] as number),
        name,
      );
      const mean = values.reduce((a, b) => a + b, 0) / 3;
      assert.ok(Math.abs((m[`${name}_mean`] as number) - mean) < 1e-12);
      assert.equal(m[`${name}_min`], Math.min(...values));
      assert.equal(m[`${name}_max`], Math.max(...values));
      assert.equal(ctx.metrics[`${name}_mean`], m[`${name}_mean`]);
      assert.equal(ctx.metrics[name], undefined, 'only summaries are reported');
    }
    // Three samples: their spread is reported over the whole image and the missing region.
    assert.equal(m['diversity'], diversity(samples));
    assert.equal(m['diversity_missing'], diversity(samples, { region: missing }));
    assert.ok((m['diversity_missing'] as number) > 0);
    assert.equal(ctx.metrics['diversity'], m['diversity']);
    // Without a mask there are no _missing entries.
    const plain = await metricNode.run({ image: samples, reference }, {}, makeTestContext());
    assert.deepEqual(Object.keys(plain['metrics'] as object).sort(), [
      'diversity',
      'psnr',
      'psnr_max',
      'psnr_mean',
      'psnr_min',
      'ssim',
      'ssim_max',
      'ssim_mean',
      'ssim_min',
    ]);
    tf.dispose([reference, samples, mask]);
  });
}

test('metric node rejects mismatched or degenerate inputs naming the node', async () => {
  await useBackend('cpu');
  const { reference, samples, mask } = images();
  const ctx = makeTestContext({ nodeId: 'eval' });
  const small = tf.zeros([1, 24, 18, 3]) as tf.Tensor4D;
  await assert.rejects(
    async () => metricNode.run({ image: samples, reference: small }, {}, ctx),
    /node 'eval': image 24x20x3 and reference 24x18x3 differ/,
  );
  await assert.rejects(
    async () => metricNode.run({ image: samples, reference: samples }, {}, ctx),
    /node 'eval': input 'reference' must have batch 1, got 3/,
  );
  const full = tf.ones([1, 24, 20, 1]) as tf.Tensor4D;
  await assert.rejects(
    async () => metricNode.run({ image: samples, reference, mask: full }, {}, ctx),
    /node 'eval': mask has nothing missing/,
  );
  const wrong = tf.ones([1, 20, 24, 1]) as tf.Tensor4D;
  await assert.rejects(
    async () => metricNode.run({ image: samples, reference, mask: wrong }, {}, ctx),
    /node 'eval': mask \[1, 20, 24, 1\] does not match the image/,
  );
  const tiny = tf.zeros([1, 8, 8, 1]) as tf.Tensor4D;
  await assert.rejects(
    async () => metricNode.run({ image: tiny, reference: tiny }, {}, ctx),
    /node 'eval': ssim: images must be at least 11x11/,
  );
  tf.dispose([reference, samples, mask, small, full, wrong, tiny]);
});
