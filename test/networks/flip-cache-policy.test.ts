/**
 * WeightStore's 'auto' flipped-kernel cache: Conv2d caches the flipped kernel while the store's
 * parameters total at most flipCacheMaxParamBytes, and not above; explicit true/false override it.
 * The input gradient is the same either way (and equals tfjs' own conv2d gradient).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, relErr, useBackend } from '../helpers/backends.js';
import type { TensorMap } from '../../src/checkpoint/types.js';
import { Conv2d } from '../../src/networks/layers.js';
import { FLIP_CACHE_MAX_PARAM_BYTES, WeightStore } from '../../src/networks/weights.js';
import { Rng } from '../../src/util/random.js';

const IN = 3;
const OUT = 5;

function checkpoint(rng: Rng): TensorMap {
  const w = Float32Array.from({ length: OUT * IN * 9 }, () => rng.normal());
  const b = Float32Array.from({ length: OUT }, () => rng.normal());
  return new Map([
    ['c.weight', { dtype: 'float32', shape: [OUT, IN, 3, 3], data: w }],
    ['c.bias', { dtype: 'float32', shape: [OUT], data: b }],
  ]);
}

for (const backend of TEST_BACKENDS) {
  test(`flipped-kernel cache policy follows the parameter bytes (${backend})`, async () => {
    await useBackend(backend);
    const rng = new Rng(12);
    const tensors = checkpoint(rng);
    const xs = Array.from({ length: 2 * 6 * 7 * IN }, () => rng.normal());
    const paramBytes = 4 * (OUT * IN * 9 + OUT);
    assert.equal(FLIP_CACHE_MAX_PARAM_BYTES, 256 * 2 ** 20);

    // Reference: tfjs' own gradient of the same convolution (padding 1 on both sides).
    const reference = tf.tidy(() => {
      const x = tf.tensor4d(xs, [2, 6, 7, IN]);
      const [co, ci] = [OUT, IN];
      const w = tf.transpose(
        tf.tensor4d(tensors.get('c.weight')!.data as Float32Array, [co, ci, 3, 3]),
        [2, 3, 1, 0],
      );
      const bias = tf.tensor1d(tensors.get('c.bias')!.data as Float32Array);
      const f = (xi: tf.Tensor) =>
        tf.sum(tf.square(tf.add(tf.conv2d(xi as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), bias)));
      return Array.from(tf.grad(f)(x).dataSync());
    });

    const cases: { setting: boolean | 'auto'; limit?: number; caches: boolean }[] = [
      { setting: 'auto', caches: true },
      { setting: 'auto', limit: paramBytes, caches: true },
      { setting: 'auto', limit: paramBytes - 1, caches: false },
      { setting: true, limit: 0, caches: true },
      { setting: false, caches: false },
    ];
    for (const c of cases) {
      const store = new WeightStore(tensors);
      assert.equal(store.cacheFlippedKernels, 'auto', 'the default is auto');
      store.cacheFlippedKernels = c.setting;
      if (c.limit !== undefined) store.flipCacheMaxParamBytes = c.limit;
      const conv = new Conv2d(store, 'c', IN, OUT, 3, { padding: 1 });
      store.finish('conv');
      assert.equal(store.paramBytes, paramBytes);
      assert.equal(store.cachesFlippedKernels(), c.caches, JSON.stringify(c));
      const owned = store.tensorCount;
      const g = tf.tidy(() => {
        const x = tf.tensor4d(xs, [2, 6, 7, IN]);
        return Array.from(
          tf
            .grad((xi: tf.Tensor) => tf.sum(tf.square(conv.apply(xi as tf.Tensor4D))))(x)
            .dataSync(),
        );
      });
      // The cache is one tensor (the flipped kernel) adopted by the store.
      assert.equal(store.tensorCount, owned + (c.caches ? 1 : 0), JSON.stringify(c));
      const err = relErr(g, reference);
      assert.ok(err < 1e-5, `${JSON.stringify(c)}: relative error ${err}`);
      store.dispose();
    }
  });
}
