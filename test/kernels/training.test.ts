/**
 * End to end: with the replacement kernels, tf.grad through tf.conv2d on wasm runs our kernels
 * (not the stock ones), and training a small conv net with SGD on wasm (impossible with stock
 * wasm: no Conv2DBackpropFilter) follows the same trajectory as on the cpu backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { relErr, useBackend } from '../helpers/backends.js';
import { Rng } from '../../src/util/random.js';
import { registerWasmKernels } from '../../src/runtime/kernels/index.js';

test('tf.grad through conv2d on wasm dispatches to the replacement kernels', async () => {
  await useBackend('wasm');
  registerWasmKernels();
  const rng = new Rng(11);
  const x = rng.normalTensor<tf.Tensor4D>([1, 8, 8, 4]);
  const w = rng.normalTensor<tf.Tensor4D>([3, 3, 4, 4]);
  const profile = await tf.profile(() => {
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')),
    )([x, w]);
    return [dx as tf.Tensor, dw as tf.Tensor];
  });
  const names = profile.kernels.map((k) => k.name);
  assert.ok(names.includes('Conv2DBackpropInput') && names.includes('Conv2DBackpropFilter'));
  // Our input gradient runs forward convs inside the kernel (the profiler records nested
  // kernels); the filter gradient runs a matrix product.
  assert.ok(names.filter((n) => n === 'Conv2D').length >= 2, names.join(','));
  assert.ok(names.includes('BatchMatMul'), names.join(','));
  tf.dispose([x, w]);
});

async function train(
  backend: 'wasm' | 'cpu',
  init: Float32Array[],
  data: Float32Array[],
): Promise<Float32Array[]> {
  await useBackend(backend);
  if (backend === 'wasm') registerWasmKernels();
  const shapes: [number, number, number, number][] = [
    [3, 3, 3, 8],
    [3, 3, 8, 8],
    [1, 1, 8, 2],
  ];
  const vars = shapes.map((s, i) => tf.variable(tf.tensor4d(init[i] as Float32Array, s)));
  const x = tf.tensor4d(data[0] as Float32Array, [2, 9, 9, 3]);
  const target = tf.tensor4d(data[1] as Float32Array, [2, 5, 5, 2]);
  const opt = tf.train.sgd(0.01);
  const [w1, w2, w3] = vars as [tf.Variable<tf.Rank.R4>, tf.Variable<tf.Rank.R4>, tf.Variable<tf.Rank.R4>];
  for (let step = 0; step < 5; step++) {
    opt.minimize(() => {
      const h1 = tf.relu(tf.conv2d(x, w1, 1, 'same'));
      // Stride-2 downsampling with explicit padding 1, as the networks do it.
      const h2 = tf.relu(
        tf.conv2d(
          tf.pad(h1, [
            [0, 0],
            [1, 1],
            [1, 1],
            [0, 0],
          ]),
          w2,
          2,
          'valid',
        ),
      );
      const y = tf.conv2d(h2, w3, 1, 'valid');
      return tf.mean(tf.square(tf.sub(y, target)));
    });
  }
  const out = vars.map((v) => v.dataSync() as Float32Array);
  tf.dispose([...vars, x, target]);
  opt.dispose();
  return out;
}

test('SGD training of a small conv net on wasm matches cpu (5 steps)', async () => {
  const rng = new Rng(2024);
  const init = [3 * 3 * 3 * 8, 3 * 3 * 8 * 8, 8 * 2].map((n) => rng.normalArray(n).map((v) => v * 0.3));
  const data = [rng.normalArray(2 * 9 * 9 * 3), rng.normalArray(2 * 5 * 5 * 2)];
  const cpu = await train('cpu', init, data);
  const wasm = await train('wasm', init, data);
  for (let i = 0; i < cpu.length; i++) {
    const moved = relErr(cpu[i] as Float32Array, init[i] as Float32Array);
    assert.ok(moved > 1e-3, `weights ${i} did not move (${moved})`);
    const err = relErr(wasm[i] as Float32Array, cpu[i] as Float32Array);
    assert.ok(err < 1e-5, `weights ${i}: wasm vs cpu relErr ${err}`);
  }
});

test('the replacement kernels leak no tensors or wasm buffers', async () => {
  await useBackend('wasm');
  registerWasmKernels();
  const rng = new Rng(12);
  const x = rng.normalTensor<tf.Tensor4D>([2, 9, 9, 4]);
  const w = rng.normalTensor<tf.Tensor4D>([3, 3, 4, 6]);
  const dw = rng.normalTensor<tf.Tensor4D>([3, 3, 4, 2]);
  const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor): tf.Scalar => {
    const a4 = a as tf.Tensor4D;
    return tf
      .sum(tf.conv2d(a4, b as tf.Tensor4D, 2, 'same'))
      .add(tf.sum(tf.depthwiseConv2d(a4, c as tf.Tensor4D, 2, 'same')))
      .add(tf.sum(tf.maxPool(a4, 2, 2, 'same')));
  };
  const run = (): void =>
    tf.tidy(() => {
      for (const g of tf.grads(loss)([x, w, dw])) g.dataSync();
    });
  run();
  const before = [tf.memory().numTensors, tf.backend().numDataIds()];
  for (let i = 0; i < 5; i++) run();
  assert.deepEqual([tf.memory().numTensors, tf.backend().numDataIds()], before);
  tf.dispose([x, w, dw]);
});
