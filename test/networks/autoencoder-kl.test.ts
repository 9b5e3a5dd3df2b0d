/**
 * AutoencoderKL against the PyTorch reference (scripts/fixtures/autoencoders.py, float64 on the
 * same weights): encoder moments, reparameterised sample, decoder output, and input gradients of
 * sum(decode(z) * r) with respect to z and of the whole x -> sample -> decode path with respect to
 * x. Tolerance: relative error (max abs diff / max abs reference) < 1e-4, on wasm and cpu.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend, relErr } from '../helpers/backends.js';
import { AutoencoderKL, type AutoencoderKLConfig } from '../../src/networks/autoencoder-kl.js';
import { loadAutoencoderFixture, ioData, ioTensor } from './autoencoder-fixture.js';

const TOL = 1e-4;
const fixture = await loadAutoencoderFixture<AutoencoderKLConfig>('autoencoder-kl.safetensors');

function check(name: string, got: ArrayLike<number>, want: ArrayLike<number>, report: string[]): void {
  const e = relErr(got, want);
  report.push(`${name} ${e.toExponential(2)}`);
  assert.ok(e < TOL, `${name}: relative error ${e} >= ${TOL}`);
}

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] AutoencoderKL matches PyTorch: moments, sample, decode, input gradients`, async () => {
    await useBackend(backend);
    const start = tf.memory().numTensors;
    const ae = AutoencoderKL.fromCheckpoint(fixture.weights, fixture.config);
    const x = ioTensor(fixture, 'x') as tf.Tensor4D;
    const eps = ioTensor(fixture, 'eps') as tf.Tensor4D;
    const zRef = ioTensor(fixture, 'z') as tf.Tensor4D;
    const r = ioTensor(fixture, 'r_dec');
    const report: string[] = [];

    const { mean, logvar } = ae.encode(x);
    check('mean', await mean.data(), ioData(fixture, 'mean'), report);
    check('logvar', await logvar.data(), ioData(fixture, 'logvar'), report);
    const z = ae.sampleLatent(mean, logvar, eps);
    check('sample', await z.data(), ioData(fixture, 'z'), report);
    const dec = ae.decode(zRef);
    assert.deepEqual(dec.shape, [2, 16, 16, 3]);
    check('decode', await dec.data(), ioData(fixture, 'dec'), report);

    const gz = tf.grad((zi) => tf.sum(tf.mul(ae.decode(zi as tf.Tensor4D), r)))(zRef);
    check('grad_z', await gz.data(), ioData(fixture, 'grad_z'), report);
    const gx = tf.grad((xi) => {
      const m = ae.encode(xi as tf.Tensor4D);
      return tf.sum(tf.mul(ae.decode(ae.sampleLatent(m.mean, m.logvar, eps)), r));
    })(x);
    check('grad_x', await gx.data(), ioData(fixture, 'grad_x'), report);
    console.log(`[${backend}] AutoencoderKL rel errors: ${report.join(', ')}`);

    tf.dispose([x, eps, zRef, r, mean, logvar, z, dec, gz, gx]);
    ae.dispose();
    assert.equal(tf.memory().numTensors, start, 'tensors leaked');
  });
}

test('AutoencoderKL scale factor: encodeScaled = s * z, decodeScaled(s * z) = decode(z)', async () => {
  await useBackend('wasm');
  const s = 0.18215;
  const ae = AutoencoderKL.fromCheckpoint(fixture.weights, { ...fixture.config, scaleFactor: s });
  const x = ioTensor(fixture, 'x') as tf.Tensor4D;
  const eps = ioTensor(fixture, 'eps') as tf.Tensor4D;
  const zSample = ioData(fixture, 'z');
  const zl = ae.encodeScaled(x, eps);
  check(
    'encodeScaled',
    await zl.data(),
    Float32Array.from(zSample, (v) => s * v),
    [],
  );
  const zMode = ae.encodeScaled(x);
  check(
    'encodeScaled mode',
    await zMode.data(),
    Float32Array.from(ioData(fixture, 'mean'), (v) => s * v),
    [],
  );
  const img = ae.decodeScaled(zl);
  check('decodeScaled', await img.data(), ioData(fixture, 'dec'), []);
  assert.equal(ae.downFactor, 2);
  tf.dispose([x, eps, zl, zMode, img]);
  ae.dispose();
});

test('AutoencoderKL with forced gradient checkpointing gives the same input gradient', async () => {
  // The default ('auto') does not recompute blocks this small; force the recomputing path.
  await useBackend('wasm');
  const plain = AutoencoderKL.fromCheckpoint(fixture.weights, {
    ...fixture.config,
    gradientCheckpointing: true,
  });
  const z = ioTensor(fixture, 'z') as tf.Tensor4D;
  const r = ioTensor(fixture, 'r_dec');
  const g = tf.grad((zi) => tf.sum(tf.mul(plain.decode(zi as tf.Tensor4D), r)))(z);
  check('grad_z (checkpointing)', await g.data(), ioData(fixture, 'grad_z'), []);
  tf.dispose([z, r, g]);
  plain.dispose();
});
