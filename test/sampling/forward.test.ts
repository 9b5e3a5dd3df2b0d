/** Forward process: closed forms, and q(z_t | z_s) composed with q(z_s | x) equals q(z_t | x) (moments). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend, relErr } from '../helpers/backends.js';
import { qSample, qStep } from '../../src/sampling/forward.js';
import { ve, vpDiscrete, type NoiseSchedule } from '../../src/schedules/index.js';
import { Rng } from '../../src/util/random.js';

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] qSample / qStep closed forms; qStep after qSample has q(z_t | x)'s moments (20000 draws, 5 SE)`, async () => {
    await useBackend(backend);
    const before = tf.memory().numTensors;
    const cases: [NoiseSchedule, number, number][] = [
      [vpDiscrete(), 400, 550],
      [ve(), 0.3, 0.6],
    ];
    for (const [schedule, s, t] of cases) {
      const rng = new Rng(13);
      const n = 20000;
      const x = 0.7;
      const out = tf.tidy(() => {
        const x0 = tf.fill([n, 1, 1, 1], x) as tf.Tensor4D;
        const e1 = rng.normalTensor<tf.Tensor4D>([n, 1, 1, 1]);
        const e2 = rng.normalTensor<tf.Tensor4D>([n, 1, 1, 1]);
        const zs = qSample(schedule, x0, s, e1);
        const ref = Array.from(e1.dataSync(), (e) => schedule.alpha(s) * x + schedule.sigma(s) * e);
        assert.ok(relErr(zs.dataSync(), ref) < 1e-5, 'qSample closed form');
        const zt = qStep(schedule, zs, s, t, e2);
        const tr = schedule.transition(s, t);
        const e2a = e2.dataSync();
        const ref2 = ref.map((z, i) => tr.alphaTS * z + Math.sqrt(tr.sigmaTS2) * (e2a[i] as number));
        assert.ok(relErr(zt.dataSync(), ref2) < 1e-5, 'qStep closed form');
        return zt;
      });
      const v = (await out.data()) as Float32Array;
      out.dispose();
      let m = 0;
      let m2 = 0;
      for (const a of v) {
        m += a;
        m2 += a * a;
      }
      m /= n;
      const sd = Math.sqrt(m2 / n - m * m);
      const [at, st] = [schedule.alpha(t), schedule.sigma(t)];
      assert.ok(Math.abs(m - at * x) < (5 * st) / Math.sqrt(n), `mean ${m} vs ${at * x}`);
      assert.ok(Math.abs(sd - st) < (5 * st) / Math.sqrt(2 * n), `std ${sd} vs ${st}`);
      assert.throws(() => qStep(schedule, out, t, s, out), /noisier/);
    }
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
  });
}
