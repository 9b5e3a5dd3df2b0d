/**
 * Data-fidelity terms against float64 sums: Laplace / Gaussian NLL and the L2 residual per sample,
 * mask-aware for inpainting, plain for an operator without a mask; gradients against the analytic
 * ones; the perceptual hook sees masked images; nothing leaks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend, relErr } from '../helpers/backends.js';
import { InpaintOperator } from '../../src/physics/inpaint.js';
import type { MeasurementOperator } from '../../src/physics/operator.js';
import {
  gaussianNll,
  l2Residual,
  laplaceNll,
  observedCount,
  perceptualTerm,
} from '../../src/solvers/likelihood.js';
import { Rng } from '../../src/util/random.js';

/** A mask-free operator: 2x2 average pooling (1 x 4 x 4 x 1 -> 1 x 2 x 2 x 1), written out in the test. */
function poolOperator(y: number[]): MeasurementOperator {
  const yT = tf.tensor4d(y, [1, 2, 2, 1]);
  return {
    kind: 'pool',
    inputShape: [4, 4, 1],
    outputShape: [2, 2, 1],
    sigmaY: 0,
    y: yT,
    forward: (x) => tf.avgPool(x, 2, 2, 'valid'),
    adjoint: () => {
      throw new Error('unused');
    },
    toSpec: () => ({ kind: 'pool', params: {}, tensors: {} }),
    dispose: () => yT.dispose(),
  };
}

function pool64(x: ArrayLike<number>, b: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < 2; i++)
    for (let j = 0; j < 2; j++) {
      let s = 0;
      for (const [di, dj] of [
        [0, 0],
        [0, 1],
        [1, 0],
        [1, 1],
      ] as const)
        s += x[b * 16 + (2 * i + di) * 4 + 2 * j + dj] as number;
      out.push(s / 4);
    }
  return out;
}

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] Laplace, Gaussian and L2 terms per sample, masked (inpainting) and mask-free`, async () => {
    await useBackend(backend);
    const rng = new Rng(3);
    const xTrue = tf.tensor4d(rng.normalArray(16 * 3), [1, 4, 4, 3]);
    const maskArr = [1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 1];
    const mask = tf.tensor4d(maskArr, [1, 4, 4, 1]);
    const op = InpaintOperator.measure(xTrue, mask, { sigmaY: 0.1 }, rng);
    const before = tf.memory().numTensors;
    const xArr = rng.normalArray(2 * 16 * 3);
    const yArr = Array.from(op.y.dataSync());
    const x = tf.tensor4d(xArr, [2, 4, 4, 3]);
    const b = 0.3;
    const sigma = 0.7;
    const ref = { lap: [0, 0], gau: [0, 0], l2: [0, 0] };
    for (let n = 0; n < 2; n++) {
      for (let p = 0; p < 16; p++) {
        if (!maskArr[p]) continue;
        for (let c = 0; c < 3; c++) {
          const r = (yArr[p * 3 + c] as number) - (xArr[n * 48 + p * 3 + c] as number);
          ref.lap[n] += Math.abs(r) / b;
          ref.gau[n] += (r * r) / (2 * sigma * sigma);
          ref.l2[n] += r * r;
        }
      }
    }
    ref.l2 = ref.l2.map(Math.sqrt);
    const lap = laplaceNll(op, x, b);
    const gau = gaussianNll(op, x, sigma);
    const l2 = l2Residual(op, x);
    assert.deepEqual(lap.shape, [2]);
    assert.ok(relErr(lap.dataSync(), ref.lap) < 1e-5, `laplace ${lap.dataSync()} vs ${ref.lap}`);
    assert.ok(relErr(gau.dataSync(), ref.gau) < 1e-5, `gaussian ${gau.dataSync()} vs ${ref.gau}`);
    assert.ok(relErr(l2.dataSync(), ref.l2) < 1e-5, `l2 ${l2.dataSync()} vs ${ref.l2}`);
    assert.equal(observedCount(op), 10 * 3);

    // Gradient of the Laplace term: -sign(y - x)/b on observed entries, 0 on missing ones.
    const g = tf.grad((v: tf.Tensor) => tf.sum(laplaceNll(op, v as tf.Tensor4D, b)))(x);
    const gRef = xArr.map((v, i) => {
      const p = Math.floor((i % 48) / 3);
      if (!maskArr[p]) return 0;
      return -Math.sign((yArr[i % 48] as number) - v) / b;
    });
    assert.ok(relErr(g.dataSync(), gRef) < 1e-5);

    // The perceptual hook compares A(x) and y on observed entries only.
    let seen: number[] = [];
    const hook = (a: tf.Tensor4D, yy: tf.Tensor4D): tf.Tensor1D =>
      tf.tidy(() => {
        seen = Array.from(tf.sub(a, yy).dataSync());
        return tf.sum(tf.reshape(tf.square(tf.sub(a, yy)), [a.shape[0], -1]), 1) as tf.Tensor1D;
      });
    const perc = perceptualTerm(op, x, hook, 0.5);
    const percRef = ref.gau.map((v) => v * 2 * sigma * sigma * 0.5);
    assert.ok(relErr(perc.dataSync(), percRef) < 1e-5);
    seen.forEach((v, i) => {
      if (!maskArr[Math.floor((i % 48) / 3)]) assert.equal(Math.abs(v), 0);
    });
    tf.dispose([lap, gau, l2, g, perc, x]);
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');

    // Mask-free operator: every entry counts.
    const pool = poolOperator([0.1, -0.2, 0.3, 0.4]);
    const xp = rng.normalArray(32);
    const xpT = tf.tensor4d(xp, [2, 4, 4, 1]);
    const lp = laplaceNll(pool, xpT, 0.5);
    const lpRef = [0, 1].map((n) =>
      pool64(xp, n).reduce((acc, v, i) => acc + Math.abs(([0.1, -0.2, 0.3, 0.4][i] as number) - v) / 0.5, 0),
    );
    assert.ok(relErr(lp.dataSync(), lpRef) < 1e-5);
    assert.equal(observedCount(pool), 4);
    assert.throws(() => laplaceNll(pool, xpT, 0), /b must be a finite number > 0/);
    tf.dispose([lp, xpT]);
    pool.dispose();
    op.dispose();
    tf.dispose([xTrue, mask]);
  });
}
