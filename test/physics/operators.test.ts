/**
 * Operator behaviour beyond the PyTorch comparison: measurement noise statistics and seeding, spec
 * round trips through `operatorFromSpec`, input validation, and tensor hygiene.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import type { MeasurementOperator } from '../../src/physics/operator.js';
import { InpaintOperator } from '../../src/physics/inpaint.js';
import { SuperResolutionOperator } from '../../src/physics/sr.js';
import { GaussianBlurOperator, convolutionMatrix, gaussianKernel1d } from '../../src/physics/blur.js';
import { operatorFromSpec } from '../../src/physics/registry.js';
import { Rng } from '../../src/util/random.js';

function image(shape: [number, number, number, number], seed: number): tf.Tensor4D {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = rng.uniform() * 2 - 1;
  return tf.tensor4d(d, shape);
}

function halfMask(h: number, w: number): tf.Tensor4D {
  const m = new Float32Array(h * w);
  for (let i = 0; i < h * w; i++) m[i] = Math.floor(i / w) < h / 2 ? 1 : 0;
  return tf.tensor4d(m, [1, h, w, 1]);
}

/** One operator of each kind (with noise) measured from `x`. */
function allOperators(x: tf.Tensor4D, seed: number): MeasurementOperator[] {
  const [, h, w] = x.shape;
  const mask = halfMask(h, w);
  const ops = [
    InpaintOperator.measure(x, mask, { sigmaY: 0.1 }, new Rng(seed)),
    SuperResolutionOperator.measure(x, { factor: 4, sigmaY: 0.1 }, new Rng(seed)),
    GaussianBlurOperator.measure(x, { size: 61, sigma: 3, padding: 'reflect', sigmaY: 0.1 }, new Rng(seed)),
    GaussianBlurOperator.measure(x, { size: 9, sigma: 2, padding: 'zero', sigmaY: 0 }, new Rng(seed)),
  ];
  mask.dispose();
  return ops;
}

for (const backend of TEST_BACKENDS) {
  test(`measurement noise: std sigmaY, seeded, zero on missing pixels [${backend}]`, async () => {
    await useBackend(backend);
    const x = image([1, 64, 64, 3], 1);
    const opsA = allOperators(x, 7);
    const opsB = allOperators(x, 7);
    const opsC = allOperators(x, 8);
    for (let k = 0; k < opsA.length; k++) {
      const [a, b, c] = [opsA[k], opsB[k], opsC[k]] as MeasurementOperator[];
      assert.deepEqual(a.y.dataSync(), b.y.dataSync(), `${a.kind}: same seed, same y`);
      const clean = a.forward(x);
      const residual = tf.sub(a.y, clean);
      const r = residual.dataSync();
      const m = a.mask?.dataSync();
      let s2 = 0;
      let count = 0;
      for (let i = 0; i < r.length; i++) {
        const observed = m === undefined || (m[Math.floor(i / 3)] as number) > 0.5;
        if (!observed) {
          assert.equal(r[i], 0, `${a.kind}: noise on a missing pixel`);
          continue;
        }
        s2 += (r[i] as number) ** 2;
        count++;
      }
      const std = Math.sqrt(s2 / count);
      if (a.sigmaY === 0) {
        assert.ok(std < 1e-7, `${a.kind}: noiseless y differs from A(x) by ${std}`);
      } else {
        // Sample std of `count` normals: relative standard error 1/sqrt(2 count); allow 5 of them.
        assert.ok(Math.abs(std / a.sigmaY - 1) < 5 / Math.sqrt(2 * count), `${a.kind}: noise std ${std}`);
        assert.notDeepEqual(
          a.y.dataSync(),
          c.y.dataSync(),
          `${a.kind}: different seeds give different noise`,
        );
      }
      tf.dispose([clean, residual]);
    }
    [...opsA, ...opsB, ...opsC].forEach((op) => op.dispose());
    x.dispose();
  });

  test(`operatorFromSpec rebuilds every operator exactly [${backend}]`, async () => {
    await useBackend(backend);
    const x = image([1, 32, 40, 3], 2);
    const probe = image([2, 32, 40, 3], 3);
    for (const op of allOperators(x, 11)) {
      const spec = op.toSpec();
      // Params go through JSON as the stage cache stores them; tensors are passed as they are.
      const stored = {
        kind: spec.kind,
        params: JSON.parse(JSON.stringify(spec.params)),
        tensors: spec.tensors,
      };
      const copy = operatorFromSpec(stored);
      assert.equal(copy.kind, op.kind);
      assert.deepEqual(copy.inputShape, op.inputShape);
      assert.deepEqual(copy.outputShape, op.outputShape);
      assert.equal(copy.sigmaY, op.sigmaY);
      assert.deepEqual(copy.toSpec().params, spec.params);
      assert.deepEqual(copy.y.dataSync(), op.y.dataSync());
      const [a, b] = [op.forward(probe), copy.forward(probe)];
      assert.deepEqual(a.dataSync(), b.dataSync(), `${op.kind}: forward differs after round trip`);
      const [c, d] = [op.adjoint(a), copy.adjoint(a)];
      assert.deepEqual(c.dataSync(), d.dataSync(), `${op.kind}: adjoint differs after round trip`);
      // The copy owns its tensors: disposing the original leaves it usable.
      op.dispose();
      assert.equal(copy.y.shape[0], 1);
      assert.ok(Number.isFinite(copy.y.dataSync()[0] as number));
      tf.dispose([a, b, c, d]);
      copy.dispose();
    }
    assert.throws(
      () => operatorFromSpec({ kind: 'nope', params: {}, tensors: {} }),
      /unknown operator kind 'nope'/,
    );
    tf.dispose([x, probe]);
  });

  test(`forward/adjoint and measure leak no tensors [${backend}]`, async () => {
    await useBackend(backend);
    const x = image([1, 32, 32, 1], 4);
    const batch = image([3, 32, 32, 1], 5);
    const before = tf.memory().numTensors;
    const ops = allOperators(x, 1);
    const owned = tf.memory().numTensors - before;
    for (const op of ops) {
      const mid = tf.memory().numTensors;
      const fx = op.forward(batch);
      const atf = op.adjoint(fx);
      assert.equal(tf.memory().numTensors, mid + 2, `${op.kind}: forward + adjoint made extra tensors`);
      tf.dispose([fx, atf]);
    }
    assert.ok(owned > 0);
    ops.forEach((op) => op.dispose());
    assert.equal(tf.memory().numTensors, before, 'operators left tensors behind after dispose');
    tf.dispose([x, batch]);
  });
}

test('input validation gives clear errors', async () => {
  await useBackend('cpu');
  const x = image([1, 30, 30, 3], 1);
  assert.throws(
    () => SuperResolutionOperator.measure(x, { factor: 4 }, new Rng(1)),
    /30x30 is not divisible by the factor 4/,
  );
  assert.throws(
    () => GaussianBlurOperator.measure(x, { size: 61, sigma: 3, padding: 'reflect' }, new Rng(1)),
    /kernel size 61 is too large for reflect padding/,
  );
  assert.throws(() => GaussianBlurOperator.measure(x, { size: 60 }, new Rng(1)), /odd positive integer/);
  const zero = GaussianBlurOperator.measure(x, { size: 61, padding: 'zero' }, new Rng(1));
  const bad = image([1, 31, 30, 3], 2);
  assert.throws(() => zero.forward(bad), /expected an \[N, 30, 30, 3\] tensor, got \[1, 31, 30, 3\]/);
  const mask = halfMask(20, 20);
  assert.throws(() => InpaintOperator.measure(x, mask, {}, new Rng(1)), /image does not match the mask/);
  assert.throws(
    () => SuperResolutionOperator.measure(x, { factor: 3, sigmaY: -1 }, new Rng(1)),
    /sigmaY must be/,
  );
  tf.dispose([x, bad, mask]);
  zero.dispose();
});

test('reflect blur matrix: rows sum to 1 and mirror without repeating the edge', () => {
  const k = gaussianKernel1d(5, 1);
  const m = convolutionMatrix(6, k, 'reflect');
  for (let i = 0; i < 6; i++) {
    let s = 0;
    for (let j = 0; j < 6; j++) s += m.data[i * 6 + j] as number;
    assert.ok(Math.abs(s - 1) < 1e-12);
  }
  // Row 0 taps at -2, -1 land on pixels 2, 1: weight(0) = k[2], weight(1) = k[3] + k[1], weight(2) = k[4] + k[0].
  assert.ok(Math.abs((m.data[0] as number) - (k[2] as number)) < 1e-15);
  assert.ok(Math.abs((m.data[1] as number) - ((k[1] as number) + (k[3] as number))) < 1e-15);
  assert.ok(Math.abs((m.data[2] as number) - ((k[0] as number) + (k[4] as number))) < 1e-15);
});
