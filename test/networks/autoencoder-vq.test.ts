/**
 * VQModel against the PyTorch reference (scripts/fixtures/autoencoders.py, float64 on the same
 * weights): pre-quantisation latent, codebook indices (exact), quantised latent, decoder output,
 * decoding from indices, and the input gradient of sum(decode(quantise(encode(x))) * r) through
 * the straight-through estimator. Tolerance: relative error < 1e-4, on wasm and cpu.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend, relErr } from '../helpers/backends.js';
import { VQModel, type VQModelConfig } from '../../src/networks/vq-model.js';
import { loadAutoencoderFixture, ioData, ioTensor } from './autoencoder-fixture.js';

const TOL = 1e-4;
const fixture = await loadAutoencoderFixture<VQModelConfig>('autoencoder-vq.safetensors');

function check(name: string, got: ArrayLike<number>, want: ArrayLike<number>, report: string[]): void {
  const e = relErr(got, want);
  report.push(`${name} ${e.toExponential(2)}`);
  assert.ok(e < TOL, `${name}: relative error ${e} >= ${TOL}`);
}

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] VQModel matches PyTorch: h, indices, quant, decode, decode from indices, input gradient`, async () => {
    await useBackend(backend);
    const start = tf.memory().numTensors;
    const vq = VQModel.fromCheckpoint(fixture.weights, fixture.config);
    const x = ioTensor(fixture, 'x') as tf.Tensor4D;
    const r = ioTensor(fixture, 'r_dec');
    const report: string[] = [];

    const { h, quant, indices } = vq.encode(x);
    check('h', await h.data(), ioData(fixture, 'h'), report);
    assert.deepEqual(indices.shape, [2, 8, 8]);
    assert.deepEqual(Array.from(await indices.data()), Array.from(ioData(fixture, 'indices')));
    check('quant', await quant.data(), ioData(fixture, 'quant'), report);
    const dec = vq.decode(quant);
    check('decode', await dec.data(), ioData(fixture, 'dec'), report);
    const refIdx = ioTensor(fixture, 'indices') as tf.Tensor3D;
    const decCode = vq.decodeIndices(refIdx);
    check('decodeIndices', await decCode.data(), ioData(fixture, 'dec_code'), report);
    // LDM path: decodeScaled quantises the latent first (scale factor 1 here).
    const decLdm = vq.decodeScaled(h);
    check('decodeScaled', await decLdm.data(), ioData(fixture, 'dec'), report);

    const gx = tf.grad((xi) => tf.sum(tf.mul(vq.decode(vq.encode(xi as tf.Tensor4D).quant), r)))(x);
    check('grad_x', await gx.data(), ioData(fixture, 'grad_x'), report);
    console.log(`[${backend}] VQModel rel errors: ${report.join(', ')}`);

    tf.dispose([x, r, h, quant, indices, dec, refIdx, decCode, decLdm, gx]);
    vq.dispose();
    assert.equal(tf.memory().numTensors, start, 'tensors leaked');
  });
}
