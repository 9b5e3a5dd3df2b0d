/** eps / x0 / v conversions: closed forms in float64 and exact round trips, on wasm and cpu. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend, relErr } from '../helpers/backends.js';
import {
  epsToV,
  epsToX0,
  levelCoefficients,
  outputToEps,
  outputToX0,
  vToEps,
  vToX0,
  x0ToEps,
  x0ToV,
} from '../../src/sampling/predictions.js';
import { vpDiscrete, edm } from '../../src/schedules/index.js';
import { Rng } from '../../src/util/random.js';

const SHAPE = [2, 3, 3, 2];
const LEVELS = [
  { name: 'vp t=550', alpha: Math.sqrt(0.2139380725), sigma: Math.sqrt(1 - 0.2139380725) },
  { name: 've sigma=5', alpha: 1, sigma: 5 },
  { name: 'general', alpha: 0.7, sigma: 2.3 },
];

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] conversions match float64 closed forms (rel 1e-5) and invert each other`, async () => {
    await useBackend(backend);
    const before = tf.memory().numTensors;
    const rng = new Rng(11);
    const xArr = rng.normalArray(36);
    const eArr = rng.normalArray(36);
    for (const { name, alpha, sigma } of LEVELS) {
      tf.tidy(() => {
        const x = tf.tensor(xArr, SHAPE);
        const e = tf.tensor(eArr, SHAPE);
        const z = tf.add(tf.mul(x, alpha), tf.mul(e, sigma));
        const zRef = Array.from(xArr, (v, i) => alpha * v + sigma * (eArr[i] as number));
        const vRef = Array.from(xArr, (v, i) => alpha * (eArr[i] as number) - sigma * v);
        const tol = 1e-5;
        assert.ok(relErr(z.dataSync(), zRef) < tol, name);
        assert.ok(
          relErr(epsToX0(z, e, alpha, sigma).dataSync(), xArr) < 1e-5 * (1 + sigma),
          `${name} eps->x0`,
        );
        assert.ok(
          relErr(x0ToEps(z, x, alpha, sigma).dataSync(), eArr) < 1e-5 * (1 + alpha),
          `${name} x0->eps`,
        );
        assert.ok(relErr(epsToV(z, e, alpha, sigma).dataSync(), vRef) < 1e-4, `${name} eps->v`);
        assert.ok(relErr(x0ToV(z, x, alpha, sigma).dataSync(), vRef) < 1e-4, `${name} x0->v`);
        const v = tf.tensor(vRef, SHAPE);
        assert.ok(relErr(vToX0(z, v, alpha, sigma).dataSync(), xArr) < 1e-5, `${name} v->x0`);
        assert.ok(relErr(vToEps(z, v, alpha, sigma).dataSync(), eArr) < 1e-5, `${name} v->eps`);
        for (const [kind, out] of [
          ['eps', e],
          ['x0', x],
          ['v', v],
        ] as const) {
          assert.ok(
            relErr(outputToX0(kind, z, out, alpha, sigma).dataSync(), xArr) < 1e-4,
            `${name} ${kind}->x0`,
          );
          assert.ok(
            relErr(outputToEps(kind, z, out, alpha, sigma).dataSync(), eArr) < 1e-4,
            `${name} ${kind}->eps`,
          );
        }
      });
    }
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
  });

  test(`[${backend}] per-sample times: levelCoefficients and conversions broadcast per sample`, async () => {
    await useBackend(backend);
    const s = vpDiscrete();
    const ts = [400, 550];
    tf.tidy(() => {
      const { alpha, sigma } = levelCoefficients(s, tf.tensor1d(ts));
      assert.ok(alpha instanceof tf.Tensor && sigma instanceof tf.Tensor);
      assert.deepEqual(alpha.shape, [2, 1, 1, 1]);
      const rng = new Rng(3);
      const x = rng.normalTensor([2, 2, 2, 1]);
      const e = rng.normalTensor([2, 2, 2, 1]);
      const z = tf.add(tf.mul(x, alpha), tf.mul(e, sigma));
      const x0 = epsToX0(z, e, alpha, sigma);
      assert.ok(relErr(x0.dataSync(), x.dataSync()) < 1e-5);
      // Row b must use time ts[b]: compare with the scalar-time conversion of each row.
      for (let b = 0; b < 2; b++) {
        const lvl = s.level(ts[b] as number);
        const row = tf.slice(z, [b, 0, 0, 0], [1, 2, 2, 1]);
        const er = tf.slice(e, [b, 0, 0, 0], [1, 2, 2, 1]);
        const ref = epsToX0(row, er, lvl.alpha, lvl.sigma);
        assert.ok(relErr(tf.slice(x0, [b, 0, 0, 0], [1, 2, 2, 1]).dataSync(), ref.dataSync()) < 1e-6);
      }
      const e2 = levelCoefficients(edm(), 3);
      assert.deepEqual(e2, { alpha: 1, sigma: 3 });
    });
  });
}
