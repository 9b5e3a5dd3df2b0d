/**
 * Parity of OpenAIUNet (CompVis openaimodel UNetModel) with a PyTorch float64 reference on random
 * float16 weights (scripts/fixtures/unets.py): output and input gradient of sum(out * r) within a
 * relative error (max abs diff / max abs ref) of 1e-4, on the wasm and cpu backends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { relErr, TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import { OpenAIUNet, type OpenAIUNetConfig } from '../../src/networks/unet-openai.js';
import { WeightError } from '../../src/networks/weights.js';
import { ioArray, ioTensor, loadUNetFixture } from './unet-fixture.js';

const TOL = 1e-4;

for (const backend of TEST_BACKENDS) {
  for (const variant of ['a', 'b']) {
    test(`OpenAIUNet variant ${variant} matches PyTorch (${backend})`, async () => {
      await useBackend(backend);
      const f = await loadUNetFixture(`unet-openai-${variant}`);
      const net = OpenAIUNet.load(f.weights, f.config as unknown as OpenAIUNetConfig);
      const x = ioTensor<tf.Tensor4D>(f, 'x');
      const t = ioTensor<tf.Tensor1D>(f, 't');
      const y = ioTensor<tf.Tensor1D>(f, 'y');
      const r = ioTensor<tf.Tensor4D>(f, 'r');
      const out = net.forward(x, t, y);
      const outErr = relErr(out.dataSync(), ioArray(f, 'out'));
      const grad = tf.grad((v: tf.Tensor4D) => tf.sum(tf.mul(net.forward(v, t, y), r)))(x);
      const gradErr = relErr(grad.dataSync(), ioArray(f, 'grad_x'));
      console.log(
        `openai-${variant} ${backend}: output rel err ${outErr.toExponential(2)}, grad ${gradErr.toExponential(2)}`,
      );
      assert.ok(outErr < TOL, `output rel err ${outErr}`);
      assert.ok(gradErr < TOL, `input-gradient rel err ${gradErr}`);
      tf.dispose([x, t, y, r, out, grad]);
      net.dispose();
    });
  }
}
