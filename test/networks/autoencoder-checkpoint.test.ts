/**
 * Checkpoint matching for the autoencoders: the key sets of channel-reduced copies of real
 * configurations (KL-f8 as in Stable Diffusion / LDM, VQ-f4 as in LDM), dumped from the PyTorch
 * reference modules, are accepted exactly; a missing, an unexpected and a mis-shaped key each fail
 * with one WeightError naming them, and nothing is left allocated after the failure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backends.js';
import type { TensorMap } from '../../src/checkpoint/types.js';
import { WeightError } from '../../src/networks/weights.js';
import { ddConfigFromOfficial } from '../../src/networks/autoencoder-blocks.js';
import { AutoencoderKL, type AutoencoderKLConfig } from '../../src/networks/autoencoder-kl.js';
import { VQModel } from '../../src/networks/vq-model.js';
import { FIXTURE_DIR, loadAutoencoderFixture } from './autoencoder-fixture.js';

interface KeySpec {
  ddconfig: Record<string, unknown>;
  embed_dim: number;
  n_embed?: number;
  keys: [string, number[]][];
}

const specs = JSON.parse(await readFile(FIXTURE_DIR + 'autoencoder-keys.json', 'utf8')) as Record<
  string,
  KeySpec
>;

function zerosCheckpoint(keys: [string, number[]][]): TensorMap {
  const m: TensorMap = new Map();
  for (const [k, shape] of keys) {
    m.set(k, { dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  }
  return m;
}

test('real KL-f8 and VQ-f4 structures (ch 32): official ddconfig maps over and every key is consumed', async () => {
  await useBackend('cpu');
  const start = tf.memory().numTensors;
  const kl = specs['kl-f8'] as KeySpec;
  const klCfg = { ...ddConfigFromOfficial(kl.ddconfig), embedDim: kl.embed_dim };
  assert.deepEqual(klCfg.chMult, [1, 2, 4, 4]);
  const ae = AutoencoderKL.fromCheckpoint(zerosCheckpoint(kl.keys), klCfg);
  assert.equal(ae.downFactor, 8);
  const z = tf.zeros([1, 2, 2, 4]) as tf.Tensor4D;
  const img = ae.decode(z);
  assert.deepEqual(img.shape, [1, 16, 16, 3]);
  tf.dispose([z, img]);
  ae.dispose();

  const vq = specs['vq-f4'] as KeySpec;
  const vqCfg = {
    ...ddConfigFromOfficial(vq.ddconfig),
    embedDim: vq.embed_dim,
    nEmbed: vq.n_embed as number,
  };
  const model = VQModel.fromCheckpoint(zerosCheckpoint(vq.keys), vqCfg);
  assert.equal(model.downFactor, 4);
  model.dispose();
  assert.equal(tf.memory().numTensors, start);
});

test('a missing, an unexpected and a mis-shaped key fail together, by name, leaving nothing allocated', async () => {
  await useBackend('cpu');
  const fx = await loadAutoencoderFixture<AutoencoderKLConfig>('autoencoder-kl.safetensors');
  const start = tf.memory().numTensors;
  const broken: TensorMap = new Map(fx.weights);
  broken.delete('decoder.up.1.attn.0.proj_out.bias');
  broken.set('encoder.extra.weight', { dtype: 'float32', shape: [1], data: new Float32Array(1) });
  broken.set('quant_conv.weight', { dtype: 'float32', shape: [8, 8, 3, 3], data: new Float32Array(576) });
  let err: unknown;
  try {
    AutoencoderKL.fromCheckpoint(broken, fx.config);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof WeightError, `expected a WeightError, got ${String(err)}`);
  assert.deepEqual(err.missing, ['decoder.up.1.attn.0.proj_out.bias [32]']);
  assert.deepEqual(err.unexpected, ['encoder.extra.weight']);
  assert.equal(err.misshaped.length, 1);
  for (const name of ['decoder.up.1.attn.0.proj_out.bias', 'encoder.extra.weight', 'quant_conv.weight']) {
    assert.ok(err.message.includes(name), `message names ${name}: ${err.message}`);
  }
  assert.ok(err.message.includes('[8,8,3,3]') && err.message.includes('[8,8,1,1]'), err.message);
  assert.equal(tf.memory().numTensors, start, 'a failed build must free what it allocated');

  // Each problem alone is also reported (one key each).
  for (const [label, mutate] of [
    ['missing', (m: TensorMap) => m.delete('encoder.conv_in.bias')],
    [
      'unexpected',
      (m: TensorMap) => m.set('loss.logvar', { dtype: 'float32', shape: [], data: new Float32Array(1) }),
    ],
    [
      'mis-shaped',
      (m: TensorMap) =>
        m.set('post_quant_conv.bias', { dtype: 'float32', shape: [5], data: new Float32Array(5) }),
    ],
  ] as const) {
    const m: TensorMap = new Map(fx.weights);
    mutate(m);
    assert.throws(
      () => AutoencoderKL.fromCheckpoint(m, fx.config),
      (e: unknown) => {
        assert.ok(e instanceof WeightError);
        assert.match(
          e.message,
          new RegExp(label === 'mis-shaped' ? 'mis-shaped keys: post_quant_conv.bias' : `${label} keys`),
        );
        return true;
      },
    );
  }
  // Training-only keys are accepted when declared ignorable.
  const withLoss: TensorMap = new Map(fx.weights);
  withLoss.set('loss.logvar', { dtype: 'float32', shape: [], data: new Float32Array(1) });
  AutoencoderKL.fromCheckpoint(withLoss, fx.config, [/^loss\./]).dispose();
  assert.equal(tf.memory().numTensors, start);
});
