/**
 * The wasm Slice replacement (heap view instead of a full copy) returns exactly what the cpu
 * backend's stock Slice returns, for random ranks 1-5, offsets, sizes (including -1), dtypes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backends.js';
import { Rng } from '../../src/util/random.js';
import { registerWasmKernels, stockWasmKernel } from '../../src/runtime/kernels/index.js';

interface Case {
  shape: number[];
  begin: number[];
  size: number[];
  dtype: 'float32' | 'int32' | 'bool';
  values: number[];
}

function randomCase(rng: Rng): Case {
  const rank = rng.int(1, 6);
  const shape = Array.from({ length: rank }, () => rng.int(1, 7));
  const begin = shape.map((d) => rng.int(0, d));
  // Often take whole trailing axes (the contiguous-run merging), sometimes -1 ("to the end").
  const size = shape.map((d, i) => {
    const b = begin[i] as number;
    const u = rng.uniform();
    if (u < 0.2) return -1;
    if (u < 0.4) {
      begin[i] = 0;
      return d;
    }
    return rng.int(1, d - b + 1);
  });
  const dtype = (['float32', 'int32', 'bool'] as const)[rng.int(0, 3)] as Case['dtype'];
  const n = shape.reduce((p, q) => p * q, 1);
  const values = Array.from({ length: n }, () =>
    dtype === 'bool' ? rng.int(0, 2) : dtype === 'int32' ? rng.int(-1000, 1000) : rng.normal(),
  );
  return { shape, begin, size, dtype, values };
}

async function sliceOn(backend: 'wasm' | 'cpu', c: Case): Promise<{ shape: number[]; data: number[] }> {
  await useBackend(backend);
  if (backend === 'wasm') registerWasmKernels();
  return tf.tidy(() => {
    const y = tf.slice(tf.tensor(c.values, c.shape, c.dtype), c.begin, c.size);
    return { shape: y.shape, data: Array.from(y.dataSync()) };
  });
}

test('wasm Slice replacement is installed and equals the cpu backend (200 random cases)', async () => {
  await useBackend('wasm');
  registerWasmKernels();
  assert.ok(stockWasmKernel('Slice') !== undefined, 'wasm had a stock Slice, now replaced');
  const rng = new Rng(31);
  for (let i = 0; i < 200; i++) {
    const c = randomCase(rng);
    const cpu = await sliceOn('cpu', c);
    const wasm = await sliceOn('wasm', c);
    const name = `${c.dtype} [${c.shape}] begin [${c.begin}] size [${c.size}]`;
    assert.deepEqual(wasm.shape, cpu.shape, name);
    assert.deepEqual(wasm.data, cpu.data, name);
  }
});
