/**
 * The wasm Reverse replacement (contiguous block copies) returns exactly what the cpu backend's
 * stock Reverse returns, for random ranks 0-5, dtypes and axis sets (negative axes, empty sets,
 * a single number), and tf.grad through tf.reverse is unchanged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backends.js';
import { Rng } from '../../src/util/random.js';
import { registerWasmKernels, stockWasmKernel } from '../../src/runtime/kernels/index.js';

interface Case {
  shape: number[];
  axes: number[] | number;
  dtype: 'float32' | 'int32' | 'bool';
  values: number[];
}

function randomCase(rng: Rng): Case {
  const rank = rng.uniform() < 0.03 ? 0 : rng.int(1, 6);
  // Sizes 1-6, with some large innermost axes so the runs are copied with TypedArray.set.
  const shape = Array.from({ length: rank }, (_, i) =>
    i === rank - 1 && rng.uniform() < 0.3 ? rng.int(16, 40) : rng.int(1, 7),
  );
  const axes: number[] = [];
  for (let a = 0; a < rank; a++) {
    if (rng.uniform() < 0.4) axes.push(rng.uniform() < 0.4 ? a - rank : a);
  }
  const dtype = (['float32', 'int32', 'bool'] as const)[rng.int(0, 3)] as Case['dtype'];
  const n = shape.reduce((p, q) => p * q, 1);
  const values = Array.from({ length: n }, () =>
    dtype === 'bool' ? rng.int(0, 2) : dtype === 'int32' ? rng.int(-1000, 1000) : rng.normal(),
  );
  const single = axes.length === 1 && rng.uniform() < 0.5;
  return { shape, axes: single ? (axes[0] as number) : axes, dtype, values };
}

async function reverseOn(backend: 'wasm' | 'cpu', c: Case): Promise<{ shape: number[]; data: number[] }> {
  await useBackend(backend);
  if (backend === 'wasm') registerWasmKernels();
  return tf.tidy(() => {
    const y = tf.reverse(tf.tensor(c.values, c.shape, c.dtype), c.axes);
    return { shape: y.shape, data: Array.from(y.dataSync()) };
  });
}

test('wasm Reverse replacement is installed and equals the cpu backend (300 random cases)', async () => {
  await useBackend('wasm');
  registerWasmKernels();
  assert.ok(stockWasmKernel('Reverse') !== undefined, 'wasm had a stock Reverse, now replaced');
  const rng = new Rng(47);
  let innermostKept = 0;
  for (let i = 0; i < 300; i++) {
    const c = randomCase(rng);
    const rank = c.shape.length;
    const axes = (typeof c.axes === 'number' ? [c.axes] : c.axes).map((a) => (a + rank) % rank);
    if (!axes.some((a) => a === rank - 1 && (c.shape[a] as number) > 1)) innermostKept++;
    const cpu = await reverseOn('cpu', c);
    const wasm = await reverseOn('wasm', c);
    const name = `${c.dtype} [${c.shape}] axes ${JSON.stringify(c.axes)}`;
    assert.deepEqual(wasm.shape, cpu.shape, name);
    assert.deepEqual(wasm.data, cpu.data, name);
  }
  // Both routes are exercised: contiguous runs, and rows copied backwards (innermost axis reversed).
  assert.ok(
    innermostKept > 100 && innermostKept < 290,
    `${innermostKept} of 300 cases with the innermost axis kept`,
  );
});

test('wasm Reverse of a conv kernel: the spatial flip of a 4-D filter equals the cpu backend', async () => {
  const rng = new Rng(5);
  const shape = [3, 3, 24, 40];
  const values = Array.from({ length: 3 * 3 * 24 * 40 }, () => rng.normal());
  for (const axes of [[0, 1], [-4, -3], [1, 0], [0], [1], [0, 1, 2]]) {
    const c: Case = { shape, axes, dtype: 'float32', values };
    const cpu = await reverseOn('cpu', c);
    const wasm = await reverseOn('wasm', c);
    assert.deepEqual(wasm.data, cpu.data, `axes ${JSON.stringify(axes)}`);
  }
});

test('tf.grad through tf.reverse is unchanged on wasm (equals the cpu backend)', async () => {
  const rng = new Rng(9);
  const shape = [2, 3, 4, 5];
  const xs = Array.from({ length: 120 }, () => rng.normal());
  const ws = Array.from({ length: 120 }, () => rng.normal());
  const gradOn = async (backend: 'wasm' | 'cpu', axes: number[]): Promise<number[]> => {
    await useBackend(backend);
    if (backend === 'wasm') registerWasmKernels();
    return tf.tidy(() => {
      const w = tf.tensor(ws, shape);
      const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.square(tf.reverse(x, axes)), w)))(
        tf.tensor(xs, shape),
      );
      return Array.from(g.dataSync());
    });
  };
  for (const axes of [[1, 2], [0, -1], [], [3]]) {
    const cpu = await gradOn('cpu', axes);
    const wasm = await gradOn('wasm', axes);
    // Closed form: d/dx sum(w * reverse(x)^2) = 2 x * reverse(w), reversal being an involution.
    const expected = await (async () => {
      await useBackend('cpu');
      return tf.tidy(() =>
        Array.from(
          tf.mul(tf.mul(2, tf.tensor(xs, shape)), tf.reverse(tf.tensor(ws, shape), axes)).dataSync(),
        ),
      );
    })();
    for (let i = 0; i < expected.length; i++) {
      assert.ok(
        Math.abs((cpu[i] as number) - (expected[i] as number)) <=
          1e-5 * (1 + Math.abs(expected[i] as number)),
      );
      assert.ok(
        Math.abs((wasm[i] as number) - (expected[i] as number)) <=
          1e-5 * (1 + Math.abs(expected[i] as number)),
      );
    }
  }
});
