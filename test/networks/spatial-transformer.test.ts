/**
 * Parity of the cross-attention path with a PyTorch float64 reference following CompVis
 * latent-diffusion (scripts/fixtures/cross_attention.py, random float16 weights): outputs and input
 * gradients of sum(out * r) with respect to the image AND the context.
 *
 * Tolerance TOL = 1e-5 relative (max abs diff / max abs ref). The fixture also holds the reference
 * outputs of the same network with the three mistakes a port is likely to make, and the first test
 * checks they are all further than 5 TOL from the right answer (measured: LayerNorm eps 1e-6 instead
 * of 1e-5 -> 7.1e-5, GroupNorm eps 1e-5 instead of 1e-6 -> 1.2e-4, tanh-approximate GELU -> 6.8e-5),
 * so passing at TOL rules each of them out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { relErr, TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import { SpatialTransformer } from '../../src/networks/spatial-transformer.js';
import { OpenAIUNet, type OpenAIUNetConfig } from '../../src/networks/unet-openai.js';
import { buildFromCheckpoint } from '../../src/networks/weights.js';
import { ioArray, ioTensor, loadUNetFixture, type UNetFixture } from './unet-fixture.js';

const TOL = 1e-5;

function gradients(
  f: UNetFixture,
  fn: (x: tf.Tensor4D, c: tf.Tensor3D) => tf.Tensor4D,
): { out: number; gradX: number; gradContext: number } {
  const x = ioTensor<tf.Tensor4D>(f, 'x');
  const c = ioTensor<tf.Tensor3D>(f, 'context');
  const r = ioTensor<tf.Tensor4D>(f, 'r');
  const out = fn(x, c);
  const [gx, gc] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(fn(a as tf.Tensor4D, b as tf.Tensor3D), r)),
  )([x, c]) as [tf.Tensor, tf.Tensor];
  const errs = {
    out: relErr(out.dataSync(), ioArray(f, 'out')),
    gradX: relErr(gx.dataSync(), ioArray(f, 'grad_x')),
    gradContext: relErr(gc.dataSync(), ioArray(f, 'grad_context')),
  };
  tf.dispose([x, c, r, out, gx, gc]);
  return errs;
}

function assertWithin(name: string, errs: { out: number; gradX: number; gradContext: number }): void {
  console.log(
    `${name}: output ${errs.out.toExponential(2)}, d/dx ${errs.gradX.toExponential(2)}, d/dcontext ${errs.gradContext.toExponential(2)}`,
  );
  assert.ok(errs.out < TOL, `output rel err ${errs.out}`);
  assert.ok(errs.gradX < TOL, `image-gradient rel err ${errs.gradX}`);
  assert.ok(errs.gradContext < TOL, `context-gradient rel err ${errs.gradContext}`);
}

test('the tolerance separates the official network from a wrong norm epsilon or a tanh GELU', async () => {
  const f = await loadUNetFixture('spatial-transformer');
  const right = ioArray(f, 'out');
  for (const wrong of ['wrong_layer_norm_eps', 'wrong_group_norm_eps', 'wrong_gelu_tanh']) {
    const e = relErr(ioArray(f, wrong), right);
    assert.ok(e > 5 * TOL, `${wrong} differs by only ${e}`);
  }
});

for (const backend of TEST_BACKENDS) {
  test(`SpatialTransformer (2 blocks, 1x1-conv projections) matches PyTorch (${backend})`, async () => {
    await useBackend(backend);
    const f = await loadUNetFixture('spatial-transformer');
    const c = f.config as {
      in_channels: number;
      n_heads: number;
      d_head: number;
      depth: number;
      context_dim: number;
    };
    const { net, store } = buildFromCheckpoint(
      'SpatialTransformer',
      new Map([...f.weights].map(([k, v]) => [`st.${k}`, v])),
      (s) =>
        new SpatialTransformer(s, 'st', {
          channels: c.in_channels,
          heads: c.n_heads,
          headChannels: c.d_head,
          depth: c.depth,
          contextDim: c.context_dim,
          useLinear: false,
        }),
      [],
    );
    assertWithin(
      `spatial-transformer ${backend}`,
      gradients(f, (x, ctx) => net.apply(x, ctx)),
    );
    store.dispose();
  });

  for (const variant of ['cin', 'linear']) {
    test(`OpenAIUNet with SpatialTransformers (${variant}) matches PyTorch (${backend})`, async () => {
      await useBackend(backend);
      const f = await loadUNetFixture(`unet-openai-st-${variant}`);
      const net = OpenAIUNet.load(f.weights, f.config as unknown as OpenAIUNetConfig);
      const t = ioTensor<tf.Tensor1D>(f, 't');
      assertWithin(
        `unet-openai-st-${variant} ${backend}`,
        gradients(f, (x, ctx) => net.forward(x, t, undefined, ctx)),
      );
      t.dispose();
      net.dispose();
    });
  }
}

test('a cross-attention UNet refuses a missing or mis-shaped context', async () => {
  await useBackend('wasm');
  const f = await loadUNetFixture('unet-openai-st-linear');
  const net = OpenAIUNet.load(f.weights, f.config as unknown as OpenAIUNetConfig);
  const x = ioTensor<tf.Tensor4D>(f, 'x');
  assert.throws(() => net.forward(x, [1, 2]), /context/);
  const bad = tf.zeros([2, 4, 7]) as tf.Tensor3D;
  assert.throws(() => net.forward(x, [1, 2], undefined, bad), /context_dim 12/);
  tf.dispose([x, bad]);
  net.dispose();
});
