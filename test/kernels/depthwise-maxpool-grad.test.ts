/**
 * The wasm replacement kernels DepthwiseConv2dNativeBackpropInput/Filter (missing on stock wasm) and
 * MaxPoolGrad (stock wasm disagrees with cpu) against the cpu backend's stock kernels, through
 * tf.grads of sum(op(x) * r), over random configurations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { relErr, useBackend } from '../helpers/backends.js';
import { Rng } from '../../src/util/random.js';
import { registerWasmKernels } from '../../src/runtime/kernels/index.js';

const TOL = 1e-5;
type Pad = 'valid' | 'same';

async function onBoth(f: () => Float32Array[]): Promise<{ wasm: Float32Array[]; cpu: Float32Array[] }> {
  await useBackend('cpu');
  const cpu = tf.tidy(f);
  await useBackend('wasm');
  registerWasmKernels();
  const wasm = tf.tidy(f);
  return { wasm, cpu };
}

interface DepthwiseCase {
  n: number;
  h: number;
  w: number;
  c: number;
  m: number;
  k: number;
  s: number;
  pad: Pad;
}

async function checkDepthwise(dc: DepthwiseCase, rng: Rng): Promise<void> {
  const { n, h, w, c, m, k, s, pad } = dc;
  const x = rng.normalArray(n * h * w * c);
  const f = rng.normalArray(k * k * c * m);
  const ho = pad === 'same' ? Math.ceil(h / s) : Math.floor((h - k) / s) + 1;
  const wo = pad === 'same' ? Math.ceil(w / s) : Math.floor((w - k) / s) + 1;
  const r = rng.normalArray(n * ho * wo * c * m);
  const { wasm, cpu } = await onBoth(() => {
    const rt = tf.tensor4d(r, [n, ho, wo, c * m]);
    const loss = (a: tf.Tensor, b: tf.Tensor): tf.Scalar =>
      tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, pad), rt));
    const grads = tf.grads(loss)([tf.tensor4d(x, [n, h, w, c]), tf.tensor4d(f, [k, k, c, m])]);
    return grads.map((t) => t.dataSync() as Float32Array);
  });
  const name = `depthwise x ${n}x${h}x${w}x${c} w ${k}x${k}x${c}x${m} s ${s} ${pad}`;
  assert.ok(relErr(wasm[0] as Float32Array, cpu[0] as Float32Array) < TOL, `${name}: dx`);
  assert.ok(relErr(wasm[1] as Float32Array, cpu[1] as Float32Array) < TOL, `${name}: dw`);
}

test('depthwise conv gradients on wasm equal cpu (fixed + 25 random cases)', async () => {
  const rng = new Rng(99);
  const fixed: DepthwiseCase[] = [
    { n: 2, h: 9, w: 9, c: 4, m: 1, k: 3, s: 1, pad: 'same' },
    { n: 1, h: 9, w: 8, c: 3, m: 2, k: 3, s: 2, pad: 'same' },
    { n: 2, h: 7, w: 7, c: 2, m: 3, k: 3, s: 2, pad: 'valid' },
    { n: 1, h: 6, w: 6, c: 5, m: 1, k: 1, s: 1, pad: 'valid' },
  ];
  for (const dc of fixed) await checkDepthwise(dc, rng);
  for (let i = 0; i < 25; i++) {
    const k = rng.int(1, 5);
    await checkDepthwise(
      {
        n: rng.int(1, 3),
        h: rng.int(Math.max(k, 2), 10),
        w: rng.int(Math.max(k, 2), 10),
        c: rng.int(1, 5),
        m: rng.int(1, 3),
        k,
        s: rng.int(1, 3),
        pad: rng.uniform() < 0.5 ? 'same' : 'valid',
      },
      rng,
    );
  }
});

interface PoolCase {
  n: number;
  h: number;
  w: number;
  c: number;
  k: number;
  s: number;
  pad: Pad;
  /** Round inputs to integers in [-2, 2] so that windows hold ties (first maximum must win). */
  ties: boolean;
}

async function checkMaxPool(pc: PoolCase, rng: Rng): Promise<void> {
  const { n, h, w, c, k, s, pad, ties } = pc;
  const x = rng.normalArray(n * h * w * c);
  if (ties) for (let i = 0; i < x.length; i++) x[i] = Math.round((x[i] as number) * 1.5);
  const ho = pad === 'same' ? Math.ceil(h / s) : Math.floor((h - k) / s) + 1;
  const wo = pad === 'same' ? Math.ceil(w / s) : Math.floor((w - k) / s) + 1;
  const r = rng.normalArray(n * ho * wo * c);
  const { wasm, cpu } = await onBoth(() => {
    const rt = tf.tensor4d(r, [n, ho, wo, c]);
    const loss = (a: tf.Tensor): tf.Scalar => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, k, s, pad), rt));
    return [
      tf
        .grad(loss)(tf.tensor4d(x, [n, h, w, c]))
        .dataSync() as Float32Array,
    ];
  });
  const name = `maxPool x ${n}x${h}x${w}x${c} k ${k} s ${s} ${pad}${ties ? ' ties' : ''}`;
  assert.ok(relErr(wasm[0] as Float32Array, cpu[0] as Float32Array) < TOL, name);
}

test('maxPool gradient on wasm equals cpu, ties included (fixed + 25 random cases)', async () => {
  const rng = new Rng(123);
  const fixed: PoolCase[] = [
    { n: 1, h: 8, w: 8, c: 3, k: 2, s: 2, pad: 'valid', ties: false },
    { n: 2, h: 9, w: 7, c: 2, k: 3, s: 2, pad: 'same', ties: false },
    { n: 1, h: 8, w: 8, c: 3, k: 3, s: 1, pad: 'same', ties: true },
    { n: 2, h: 8, w: 8, c: 2, k: 2, s: 2, pad: 'valid', ties: true },
  ];
  for (const pc of fixed) await checkMaxPool(pc, rng);
  for (let i = 0; i < 25; i++) {
    const k = rng.int(1, 5);
    await checkMaxPool(
      {
        n: rng.int(1, 3),
        h: rng.int(Math.max(k, 2), 10),
        w: rng.int(Math.max(k, 2), 10),
        c: rng.int(1, 4),
        k,
        s: rng.int(1, 4),
        pad: rng.uniform() < 0.5 ? 'same' : 'valid',
        ties: rng.uniform() < 0.5,
      },
      rng,
    );
  }
});
