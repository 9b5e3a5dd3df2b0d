/**
 * Parity of DhariwalUNet (NVlabs EDM) with a PyTorch float64 reference on random float16 weights
 * (scripts/fixtures/unets.py): the raw network F and EDMPrecond's D = c_skip x + c_out F(c_in x,
 * ln(sigma)/4), outputs and input gradients of sum(out * r), within a relative error (max abs diff /
 * max abs ref) of 1e-4 on the wasm and cpu backends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { relErr, TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import { DhariwalUNet, type DhariwalUNetConfig } from '../../src/networks/unet-dhariwal.js';
import { edm, edmPreconditioning } from '../../src/schedules/edm.js';
import { makeDenoiser, type RawNetwork } from '../../src/networks/denoiser.js';
import { WeightError } from '../../src/networks/weights.js';
import { ioArray, ioTensor, loadUNetFixture } from './unet-fixture.js';

const TOL = 1e-4;

/** EDMPrecond around the raw network, per-sample coefficients from the schedule module. */
function precond(net: DhariwalUNet, x: tf.Tensor4D, sigmas: number[], labels: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const c = sigmas.map((s) => edmPreconditioning(s, 0.5));
    const col = (v: number[]) => tf.tensor4d(v, [v.length, 1, 1, 1]);
    const f = net.forward(
      tf.mul(x, col(c.map((p) => p.cIn))) as tf.Tensor4D,
      tf.tensor1d(c.map((p) => p.cNoise)),
      labels,
    );
    return tf.add(tf.mul(x, col(c.map((p) => p.cSkip))), tf.mul(f, col(c.map((p) => p.cOut)))) as tf.Tensor4D;
  });
}

for (const backend of TEST_BACKENDS) {
  test(`DhariwalUNet and EDM preconditioning match PyTorch (${backend})`, async () => {
    await useBackend(backend);
    const f = await loadUNetFixture('unet-dhariwal');
    const net = DhariwalUNet.load(f.weights, f.config as unknown as DhariwalUNetConfig);
    const x = ioTensor<tf.Tensor4D>(f, 'x');
    const t = ioTensor<tf.Tensor1D>(f, 't');
    const y = ioTensor<tf.Tensor2D>(f, 'y');
    const aug = ioTensor<tf.Tensor2D>(f, 'aug');
    const r = ioTensor<tf.Tensor4D>(f, 'r');
    const sigmas = Array.from(ioArray(f, 'sigma'));

    const out = net.forward(x, t, y, aug);
    const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(net.forward(v as tf.Tensor4D, t, y, aug), r)))(x);
    const pout = precond(net, x, sigmas, y);
    const pgrad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(precond(net, v as tf.Tensor4D, sigmas, y), r)))(x);
    const errs = {
      out: relErr(out.dataSync(), ioArray(f, 'out')),
      grad: relErr(grad.dataSync(), ioArray(f, 'grad_x')),
      precondOut: relErr(pout.dataSync(), ioArray(f, 'precond_out')),
      precondGrad: relErr(pgrad.dataSync(), ioArray(f, 'precond_grad_x')),
    };
    console.log(`dhariwal ${backend}: ${JSON.stringify(errs)}`);
    for (const [k, e] of Object.entries(errs)) assert.ok(e < TOL, `${k} rel err ${e}`);
    tf.dispose([x, t, y, aug, r, out, grad, pout, pgrad]);
    net.dispose();
  });
}

test('DhariwalUNet.asRawNetwork: class indices become one-hot rows, the null class (label_dim) a zero row', async () => {
  await useBackend('wasm');
  const f = await loadUNetFixture('unet-dhariwal');
  const net = DhariwalUNet.load(f.weights, f.config as unknown as DhariwalUNetConfig);
  const raw = net.asRawNetwork();
  const x = ioTensor<tf.Tensor4D>(f, 'x');
  const t = ioTensor<tf.Tensor1D>(f, 't');
  const rows = tf.tensor2d([0, 1, 0, 0, 0, 0], [2, 3]); // class 1, then no class
  const viaRows = net.forward(x, t, rows);
  const viaIds = raw(x, t, tf.tensor1d([1, 3], 'int32'));
  assert.ok(relErr(viaIds.dataSync(), viaRows.dataSync()) < 1e-6);
  const bad = tf.tensor1d([0, 4], 'int32');
  assert.throws(() => raw(x, t, bad), /class label 4 outside \[0, 3\]/);
  bad.dispose();
  const unconditional = raw(x, t);
  const zeros = net.forward(x, t, tf.zeros([2, 3]) as tf.Tensor2D);
  assert.ok(relErr(unconditional.dataSync(), zeros.dataSync()) < 1e-6);
  tf.dispose([x, t, rows, viaRows, viaIds, unconditional, zeros]);
  net.dispose();
});

test('DhariwalUNet: resample_filter buffers are optional, checked when present; key mismatches are listed', async () => {
  await useBackend('cpu');
  const f = await loadUNetFixture('unet-dhariwal');
  const before = tf.memory().numTensors;
  const config = f.config as unknown as DhariwalUNetConfig;
  const withoutBuffers = new Map([...f.weights].filter(([k]) => !k.endsWith('.resample_filter')));
  assert.ok(withoutBuffers.size < f.weights.size);
  DhariwalUNet.load(withoutBuffers, config).dispose();

  const otherFilter = new Map(f.weights);
  otherFilter.set('enc.8x8_down.conv0.resample_filter', {
    dtype: 'float32',
    shape: [1, 1, 2, 2],
    data: new Float32Array([0.1, 0.4, 0.4, 0.1]),
  });
  assert.throws(() => DhariwalUNet.load(otherFilter, config), /only EDM's default \[1, 1\] resample filter/);

  const broken = new Map(f.weights);
  broken.delete('dec.8x8_in0.qkv.weight');
  broken.set('map_noise.freqs', { dtype: 'float32', shape: [8], data: new Float32Array(8) });
  assert.throws(
    () => DhariwalUNet.load(broken, config),
    (e: unknown) =>
      e instanceof WeightError &&
      e.missing.some((k) => k.startsWith('dec.8x8_in0.qkv.weight')) &&
      e.unexpected.includes('map_noise.freqs'),
  );
  assert.throws(
    () => DhariwalUNet.load(f.weights, { ...config, use_fp16: true } as DhariwalUNetConfig),
    /use_fp16/,
  );
  assert.equal(tf.memory().numTensors, before);
});

test('DhariwalUNet: repeated forward and gradient calls leave no tensors behind; dispose frees the weights', async () => {
  await useBackend('wasm');
  const f = await loadUNetFixture('unet-dhariwal');
  const before = tf.memory().numTensors;
  const net = DhariwalUNet.load(f.weights, f.config as unknown as DhariwalUNetConfig);
  const raw = net.asRawNetwork();
  const x = ioTensor<tf.Tensor4D>(f, 'x');
  const t = tf.tensor1d([0.1, -0.2]);
  const ids = tf.tensor1d([0, 2], 'int32');
  // The first call caches derived kernels in the store (freed by dispose); then the count is flat.
  tf.dispose(raw(x, t, ids));
  const warm = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) tf.dispose(raw(x, t, ids));
  assert.equal(tf.memory().numTensors, warm);
  const counts: number[] = [];
  for (let i = 0; i < 3; i++) {
    tf.dispose(tf.grad((v: tf.Tensor) => tf.sum(raw(v as tf.Tensor4D, t, ids)))(x));
    counts.push(tf.memory().numTensors);
  }
  assert.deepEqual(counts, [counts[0], counts[0], counts[0]]);
  tf.dispose([x, t, ids]);
  net.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('DhariwalUNet behind makeDenoiser (EDM schedule, preconditioning) reproduces EDMPrecond', async () => {
  await useBackend('wasm');
  const f = await loadUNetFixture('unet-dhariwal');
  const net = DhariwalUNet.load(f.weights, f.config as unknown as DhariwalUNetConfig);
  const raw: RawNetwork = net.asRawNetwork();
  const denoiser = makeDenoiser({
    net: raw,
    parameterization: 'x0',
    schedule: edm(),
    space: 'pixel',
    dataShape: [16, 16, 1],
    numClasses: 3,
  });
  const x = ioTensor<tf.Tensor4D>(f, 'x');
  const sigma = ioTensor<tf.Tensor1D>(f, 'sigma'); // EDM schedule time is sigma itself
  const ids = tf.tensor1d([1, 2], 'int32'); // the fixture's one-hot rows
  const d = denoiser.predictX0(x, sigma, ids);
  const err = relErr(d.dataSync(), ioArray(f, 'precond_out'));
  console.log(`dhariwal via makeDenoiser: D rel err ${err.toExponential(2)}`);
  assert.ok(err < TOL, `D rel err ${err}`);
  tf.dispose([x, sigma, ids, d]);
  net.dispose();
});
