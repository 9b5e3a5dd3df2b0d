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
import { WeightError, WeightStore } from '../../src/networks/weights.js';
import type { RawNetwork } from '../../src/networks/denoiser.js';
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
      const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(net.forward(v as tf.Tensor4D, t, y), r)))(x);
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

test('OpenAIUNet: a checkpoint that does not fit names every missing, mis-shaped and unexpected key', async () => {
  await useBackend('wasm');
  const f = await loadUNetFixture('unet-openai-a');
  const before = tf.memory().numTensors;
  const weights = new Map(f.weights);
  weights.delete('middle_block.1.qkv.weight');
  const bias = weights.get('out.2.bias');
  assert.ok(bias);
  weights.set('out.2.bias', { ...bias, shape: [2, 2] });
  weights.set('model_ema.decay', { dtype: 'float32', shape: [], data: new Float32Array([0.999]) });
  assert.throws(
    () => OpenAIUNet.load(weights, f.config as unknown as OpenAIUNetConfig),
    (e: unknown) =>
      e instanceof WeightError &&
      e.missing.some((k) => k.startsWith('middle_block.1.qkv.weight')) &&
      e.misshaped.some((k) => k.startsWith('out.2.bias')) &&
      e.unexpected.includes('model_ema.decay') &&
      /middle_block\.1\.qkv\.weight/.test(e.message),
  );
  assert.equal(tf.memory().numTensors, before, 'a failed load frees what it built');
  // The same keys under a prefix with bookkeeping ignored: what a full LDM checkpoint looks like.
  const prefixed = new Map([...f.weights].map(([k, v]) => [`${OpenAIUNet.LDM_PREFIX}${k}`, v]));
  prefixed.set('model_ema.decay', { dtype: 'float32', shape: [], data: new Float32Array([0.999]) });
  prefixed.set('betas', { dtype: 'float32', shape: [2], data: new Float32Array([0.1, 0.2]) });
  prefixed.set('first_stage_model.quant_conv.bias', {
    dtype: 'float32',
    shape: [1],
    data: new Float32Array(1),
  });
  const net = OpenAIUNet.load(prefixed, f.config as unknown as OpenAIUNetConfig, {
    prefix: OpenAIUNet.LDM_PREFIX,
    ignore: [/^(?!model\.diffusion_model\.)/],
  });
  net.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('OpenAIUNet: unsupported configurations are refused with the reason', () => {
  const base: OpenAIUNetConfig = {
    image_size: 16,
    in_channels: 4,
    model_channels: 32,
    out_channels: 4,
    num_res_blocks: 1,
    attention_resolutions: [2],
    num_heads: 2,
  };
  const store = new WeightStore(new Map());
  assert.throws(() => new OpenAIUNet(store, { ...base, use_spatial_transformer: true }), /go together/);
  assert.throws(() => new OpenAIUNet(store, { ...base, context_dim: 512 }), /go together/);
  assert.throws(() => new OpenAIUNet(store, { ...base, dims: 3 }), /dims = 2/);
  assert.throws(() => new OpenAIUNet(store, { ...base, n_embed: 8192 }), /n_embed/);
  assert.throws(() => new OpenAIUNet(store, { ...base, num_heads: -1 }), /num_heads or num_head_channels/);
  assert.throws(
    () => new OpenAIUNet(store, { ...base, disable_self_attentions: [true] } as OpenAIUNetConfig),
    /unknown config keys disable_self_attentions/,
  );
});

test('OpenAIUNet: repeated forward and gradient calls leave no tensors behind; dispose frees the weights', async () => {
  await useBackend('wasm');
  const f = await loadUNetFixture('unet-openai-b');
  const before = tf.memory().numTensors;
  const net = OpenAIUNet.load(f.weights, f.config as unknown as OpenAIUNetConfig);
  const x = ioTensor<tf.Tensor4D>(f, 'x');
  // The first forward and the first gradient cache derived kernels (attention projections, and on
  // stock wasm each convolution's flipped kernel) in the store, freed by dispose; after that the
  // count must stay flat.
  tf.dispose(net.forward(x, [10, 500], [1, 2]));
  const warm = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) tf.dispose(net.forward(x, [10, 500], [1, 2]));
  assert.equal(tf.memory().numTensors, warm, 'forward leaves nothing behind');
  const counts: number[] = [];
  for (let i = 0; i < 3; i++) {
    tf.dispose(tf.grad((v: tf.Tensor) => tf.sum(net.forward(v as tf.Tensor4D, [10, 500], [1, 2])))(x));
    counts.push(tf.memory().numTensors);
  }
  assert.deepEqual(counts, [counts[0], counts[0], counts[0]]);
  assert.throws(() => net.forward(x, [10, 500]), /class labels/);
  x.dispose();
  net.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('OpenAIUNet: class labels outside [0, num_classes) are refused', async () => {
  await useBackend('cpu');
  const f = await loadUNetFixture('unet-openai-a');
  const net = OpenAIUNet.load(f.weights, f.config as unknown as OpenAIUNetConfig);
  const raw: RawNetwork = net.asRawNetwork(); // fits the Denoiser's raw-network type
  const x = ioTensor<tf.Tensor4D>(f, 'x');
  const t = tf.tensor1d([1, 2]);
  const ids = tf.tensor1d([0, 3], 'int32');
  assert.throws(() => raw(x, t, ids), /class label 3 outside \[0, 3\)/);
  tf.dispose([x, t, ids]);
  net.dispose();
});

test('OpenAIUNet: an input not divisible by the total downsampling is refused', async () => {
  await useBackend('cpu');
  const f = await loadUNetFixture('unet-openai-a');
  const net = OpenAIUNet.load(f.weights, f.config as unknown as OpenAIUNetConfig);
  const x = tf.zeros([1, 15, 16, 4]) as tf.Tensor4D;
  assert.throws(() => net.forward(x, [1], [0]), /15x16 is not divisible by 2/);
  x.dispose();
  net.dispose();
});
