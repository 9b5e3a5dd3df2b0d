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
import { edmPreconditioning } from '../../src/schedules/edm.js';
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
    const grad = tf.grad((v: tf.Tensor4D) => tf.sum(tf.mul(net.forward(v, t, y, aug), r)))(x);
    const pout = precond(net, x, sigmas, y);
    const pgrad = tf.grad((v: tf.Tensor4D) => tf.sum(tf.mul(precond(net, v, sigmas, y), r)))(x);
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
