/**
 * The wasm Unpack replacement (per-item copies from a heap view) returns exactly what the cpu
 * backend's stock Unpack returns, for random ranks 1-5, axes (negative too) and dtypes; the
 * gradient of tf.unstack is unchanged; unstacking many items costs no full copy per item.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backends.js';
import { Rng } from '../../src/util/random.js';
import { registerWasmKernels, stockWasmKernel } from '../../src/runtime/kernels/index.js';

interface Case {
  shape: number[];
  axis: number;
  dtype: 'float32' | 'int32' | 'bool';
  values: number[];
}

function randomCase(rng: Rng): Case {
  const rank = rng.int(1, 6);
  const shape = Array.from({ length: rank }, (_, i) =>
    i === rank - 1 && rng.uniform() < 0.3 ? rng.int(16, 40) : rng.int(1, 6),
  );
  const a = rng.int(0, rank);
  const axis = rng.uniform() < 0.3 ? a - rank : a;
  const dtype = (['float32', 'int32', 'bool'] as const)[rng.int(0, 3)] as Case['dtype'];
  const n = shape.reduce((p, q) => p * q, 1);
  const values = Array.from({ length: n }, () =>
    dtype === 'bool' ? rng.int(0, 2) : dtype === 'int32' ? rng.int(-1000, 1000) : rng.normal(),
  );
  return { shape, axis, dtype, values };
}

async function unstackOn(backend: 'wasm' | 'cpu', c: Case): Promise<{ shape: number[]; data: number[] }[]> {
  await useBackend(backend);
  if (backend === 'wasm') registerWasmKernels();
  return tf.tidy(() =>
    tf
      .unstack(tf.tensor(c.values, c.shape, c.dtype), c.axis)
      .map((y) => ({ shape: y.shape, data: Array.from(y.dataSync()) })),
  );
}

test('wasm Unpack replacement is installed and equals the cpu backend (200 random cases)', async () => {
  await useBackend('wasm');
  registerWasmKernels();
  assert.ok(stockWasmKernel('Unpack') !== undefined, 'wasm had a stock Unpack, now replaced');
  const rng = new Rng(58);
  for (let i = 0; i < 200; i++) {
    const c = randomCase(rng);
    const cpu = await unstackOn('cpu', c);
    const wasm = await unstackOn('wasm', c);
    assert.deepEqual(wasm, cpu, `${c.dtype} [${c.shape}] axis ${c.axis}`);
  }
});

test('tf.grad through tf.unstack is unchanged on wasm (closed form)', async () => {
  const rng = new Rng(4);
  const shape = [3, 4, 5];
  const xs = Array.from({ length: 60 }, () => rng.normal());
  for (const axis of [0, 1, -1]) {
    for (const backend of ['wasm', 'cpu'] as const) {
      await useBackend(backend);
      if (backend === 'wasm') registerWasmKernels();
      // f(x) = sum_i (i + 1) * sum(item_i^2): df/dx = 2 (i + 1) x, i the index along `axis`.
      const g = tf.tidy(() =>
        Array.from(
          tf
            .grad((x: tf.Tensor) =>
              tf.addN(tf.unstack(x, axis).map((t, i) => tf.mul(i + 1, tf.sum(tf.square(t))))),
            )(tf.tensor(xs, shape))
            .dataSync(),
        ),
      );
      const ax = (axis + 3) % 3;
      const strides = [20, 5, 1];
      for (let j = 0; j < 60; j++) {
        const i = Math.floor(j / (strides[ax] as number)) % (shape[ax] as number);
        const expected = 2 * (i + 1) * (xs[j] as number);
        assert.ok(
          Math.abs((g[j] as number) - expected) <= 1e-5 * (1 + Math.abs(expected)),
          `${backend} axis ${axis} at ${j}`,
        );
      }
    }
  }
});
