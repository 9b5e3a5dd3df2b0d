/**
 * The Denoiser builder: eps / x0 / v networks give the same (exact) predictions; EDM
 * preconditioning feeds F with c_in z and c_noise and recombines D; per-sample times; one call
 * per prediction; guidance combines conditional and unconditional outputs in one batched call.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend, relErr } from '../helpers/backends.js';
import { countCalls, denoise, makeDenoiser, type RawNetwork } from '../../src/networks/denoiser.js';
import { withGuidance } from '../../src/networks/guidance.js';
import { edm, edmPreconditioning, vpDiscrete, vpContinuous } from '../../src/schedules/index.js';
import { Rng } from '../../src/util/random.js';
import { exactX0, gaussianDenoiser, type GaussianData } from './gaussian-prior.js';

const DATA: GaussianData = { mean: [0.5, -0.3, 0.2, 0], std: 0.3, shape: [2, 2, 1] };

function refX0(z: ArrayLike<number>, levels: { alpha: number; sigma: number }[]): number[] {
  return Array.from(z, (v, i) =>
    exactX0(DATA, i % 4, v, levels[Math.floor(i / 4)] as { alpha: number; sigma: number }),
  );
}

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] eps, x0 and v networks give the exact Gaussian x0 / eps (VP discrete and continuous, per-sample t)`, async () => {
    await useBackend(backend);
    const before = tf.memory().numTensors;
    const rng = new Rng(9);
    const zArr = rng.normalArray(12);
    for (const schedule of [vpDiscrete(), vpContinuous()]) {
      const ts = schedule.discrete ? [100, 550, 900] : [0.1, 0.5, 0.9];
      const levels = ts.map((t) => schedule.level(t));
      const x0Ref = refX0(zArr, levels);
      const epsRef = Array.from(zArr, (z, i) => {
        const l = levels[Math.floor(i / 4)] as { alpha: number; sigma: number };
        return (z - l.alpha * (x0Ref[i] as number)) / l.sigma;
      });
      for (const kind of ['eps', 'x0', 'v'] as const) {
        const d = gaussianDenoiser(DATA, schedule, kind);
        assert.equal(d.parameterization, kind);
        tf.tidy(() => {
          const z = tf.tensor4d(zArr, [3, 2, 2, 1]);
          const tt = tf.tensor1d(ts);
          const x0 = d.predictX0(z, tt);
          const eps = d.predictEps(z, tt);
          assert.ok(relErr(x0.dataSync(), x0Ref) < 2e-5, `${kind} x0: ${relErr(x0.dataSync(), x0Ref)}`);
          assert.ok(relErr(eps.dataSync(), epsRef) < 2e-4, `${kind} eps: ${relErr(eps.dataSync(), epsRef)}`);
          // A scalar time equals the per-sample path on a batch sharing that time.
          const one = d.predictX0(z, ts[1] as number);
          const ref1 = refX0(zArr, [levels[1], levels[1], levels[1]] as { alpha: number; sigma: number }[]);
          assert.ok(relErr(one.dataSync(), ref1) < 2e-5, `${kind} scalar t`);
          const both = denoise(d, z, tt);
          assert.ok(relErr(both.x0.dataSync(), x0Ref) < 2e-5);
          assert.ok(relErr(both.eps.dataSync(), epsRef) < 2e-4);
        });
      }
    }
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
  });

  test(`[${backend}] EDM preconditioning: F gets c_in z and c_noise = ln(sigma)/4; D = c_skip z + c_out F`, async () => {
    await useBackend(backend);
    const schedule = edm();
    const seen: { zIn: number[]; tIn: number[] }[] = [];
    // F returns a fixed tensor so that D's combination can be checked by hand.
    const fValues = [0.7, -0.2, 0.1, 0.4];
    const net: RawNetwork = (zIn, tIn) => {
      seen.push({ zIn: Array.from(zIn.dataSync()), tIn: Array.from(tIn.dataSync()) });
      return tf.tensor4d(fValues, [1, 2, 2, 1]);
    };
    const d = makeDenoiser({ net, parameterization: 'x0', schedule, space: 'pixel', dataShape: [2, 2, 1] });
    const sigma = 2.5;
    const p = edmPreconditioning(sigma, 0.5);
    const zArr = [1.5, -3, 0.25, 2];
    tf.tidy(() => {
      const z = tf.tensor4d(zArr, [1, 2, 2, 1]);
      const x0 = d.predictX0(z, sigma);
      const eps = d.predictEps(z, sigma);
      const dRef = zArr.map((v, i) => p.cSkip * v + p.cOut * (fValues[i] as number));
      assert.ok(relErr(x0.dataSync(), dRef) < 1e-6);
      assert.ok(
        relErr(
          eps.dataSync(),
          zArr.map((v, i) => (v - (dRef[i] as number)) / sigma),
        ) < 1e-5,
      );
    });
    assert.equal(seen.length, 2, 'one network call per prediction');
    assert.ok(
      relErr(
        seen[0]?.zIn ?? [],
        zArr.map((v) => p.cIn * v),
      ) < 1e-6,
    );
    assert.ok(Math.abs((seen[0]?.tIn[0] ?? 0) - Math.log(sigma) / 4) < 1e-6);
    assert.throws(
      () => makeDenoiser({ net, parameterization: 'eps', schedule, space: 'pixel', dataShape: [2, 2, 1] }),
      /preconditioning/,
    );
    // With the exact Gaussian F, D is the exact posterior mean.
    const g = gaussianDenoiser(DATA, schedule);
    tf.tidy(() => {
      const z = tf.tensor4d(zArr, [1, 2, 2, 1]);
      assert.ok(relErr(g.predictX0(z, sigma).dataSync(), refX0(zArr, [{ alpha: 1, sigma }])) < 2e-5);
    });
  });

  test(`[${backend}] predictions are differentiable in z: d sum(x0) / dz = k (VP eps net and EDM F net)`, async () => {
    await useBackend(backend);
    tf.tidy(() => {
      const z = tf.tensor4d([0.3, -0.2, 1.1, 0.4], [1, 2, 2, 1]);
      for (const [schedule, t] of [
        [vpDiscrete(), 550],
        [edm(), 3],
      ] as const) {
        const d = gaussianDenoiser(DATA, schedule, 'eps');
        const { alpha, sigma } = schedule.level(t);
        const k = (alpha * DATA.std ** 2) / (alpha ** 2 * DATA.std ** 2 + sigma ** 2);
        const g = tf.grad((zz: tf.Tensor) => tf.sum(d.predictX0(zz as tf.Tensor4D, t)))(z);
        assert.ok(
          relErr(g.dataSync(), [k, k, k, k]) < 1e-4,
          `${schedule.kind}: grad ${g.dataSync()} vs ${k}`,
        );
      }
    });
  });

  test(`[${backend}] countCalls counts network calls; denoise costs one call`, async () => {
    await useBackend(backend);
    const calls: number[] = [];
    const d = countCalls(gaussianDenoiser(DATA, vpDiscrete(), 'v'), (b) => calls.push(b));
    tf.tidy(() => {
      const z = tf.zeros([5, 2, 2, 1]) as tf.Tensor4D;
      denoise(d, z, 10);
      d.predictEps(z, 10);
    });
    assert.deepEqual(calls, [5, 5]);
  });

  test(`[${backend}] classifier-free guidance: eps_u + w (eps_c - eps_u) in one batched call; w = 1 is conditional`, async () => {
    await useBackend(backend);
    const schedule = vpDiscrete();
    const batches: number[] = [];
    const labelLog: number[][] = [];
    // A toy conditional eps network: eps = 0.1 z + (label + 1) / 10 (the null class 10 gives 1.1).
    const net: RawNetwork = (z, _t, labels) => {
      batches.push(z.shape[0]);
      if (!labels) throw new Error('labels expected');
      labelLog.push(Array.from(labels.dataSync()));
      return tf.tidy(() =>
        tf.add(tf.mul(z, 0.1), tf.reshape(tf.div(tf.add(labels, 1), 10), [-1, 1, 1, 1])),
      ) as tf.Tensor4D;
    };
    const base = makeDenoiser({
      net,
      parameterization: 'eps',
      schedule,
      space: 'latent',
      dataShape: [1, 1, 1],
      numClasses: 10,
    });
    const w = 3;
    const g = withGuidance(base, { scale: w, labels: [2, 7] });
    const zArr = [0.5, -1];
    tf.tidy(() => {
      const z = tf.tensor4d(zArr, [2, 1, 1, 1]);
      const eps = g.predictEps(z, 400);
      const ref = zArr.map((v, i) => {
        const c = 0.1 * v + (([2, 7][i] as number) + 1) / 10;
        const u = 0.1 * v + 1.1;
        return u + w * (c - u);
      });
      assert.ok(relErr(eps.dataSync(), ref) < 1e-6);
      assert.deepEqual(batches, [4], 'one call with the batch doubled');
      assert.deepEqual(labelLog[0], [2, 7, 10, 10]);
      const { alpha, sigma } = schedule.level(400);
      const x0 = g.predictX0(z, 400);
      assert.ok(
        relErr(
          x0.dataSync(),
          zArr.map((v, i) => (v - sigma * (ref[i] as number)) / alpha),
        ) < 1e-5,
      );
      const cond = withGuidance(base, { scale: 1 }).predictEps(z, 400, tf.tensor1d([4, 4]));
      assert.ok(
        relErr(
          cond.dataSync(),
          zArr.map((v) => 0.1 * v + 0.5),
        ) < 1e-6,
      );
      assert.equal(batches[batches.length - 1], 2, 'w = 1: no unconditional copy');
    });
    assert.throws(() => withGuidance(gaussianDenoiser(DATA, schedule), { scale: 2 }), /class-conditional/);
    assert.throws(
      () => tf.tidy(() => withGuidance(base, { scale: 2 }).predictEps(tf.zeros([1, 1, 1, 1]), 5)),
      /no class labels/,
    );
    assert.throws(
      () => tf.tidy(() => withGuidance(base, { scale: 2, labels: 11 }).predictEps(tf.zeros([1, 1, 1, 1]), 5)),
      /not in 0..10/,
    );
  });
}
