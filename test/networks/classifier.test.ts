/**
 * Parity of the Fashion-MNIST classifier with its PyTorch twin (scripts/train/torch_models.py), on a
 * small-width instance with random weights evaluated in float64 by scripts/train/classifier_fixture.py:
 * logits, penultimate features and the input gradient of sum(logits * r) within a relative error
 * (max abs diff / max abs ref) of 1e-4, on the wasm and cpu backends; plus key-set and input-shape errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { readSafetensorsFileWithMetadata } from '../../src/checkpoint/safetensors.js';
import type { RawTensor, TensorMap } from '../../src/checkpoint/types.js';
import {
  Classifier,
  FASHION_CLASSIFIER_CONFIG,
  type ClassifierConfig,
} from '../../src/networks/classifier.js';
import { WeightError } from '../../src/networks/weights.js';
import { relErr, TEST_BACKENDS, useBackend } from '../helpers/backends.js';

const TOL = 1e-4;
const path = fileURLToPath(new URL('../fixtures/fashion/classifier-parity.safetensors', import.meta.url));
const { tensors, metadata } = await readSafetensorsFileWithMetadata(path);
const config = JSON.parse(metadata.config ?? '{}') as ClassifierConfig;
const weights: TensorMap = new Map();
const io = new Map<string, RawTensor>();
for (const [k, v] of tensors) {
  if (k.startsWith('io.')) io.set(k.slice(3), v);
  else weights.set(k, v);
}

function ioTensor(name: string): tf.Tensor {
  const t = io.get(name);
  if (!t) throw new Error(`fixture has no io.${name}`);
  return tf.tensor(Float32Array.from(t.data), t.shape, 'float32');
}

function ioArray(name: string): Float64Array {
  const t = io.get(name);
  if (!t) throw new Error(`fixture has no io.${name}`);
  return Float64Array.from(t.data);
}

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] classifier logits, penultimate features and input gradient match PyTorch float64`, async () => {
    await useBackend(backend);
    const start = tf.memory().numTensors;
    const net = Classifier.load(weights, config);
    const x = ioTensor('x') as tf.Tensor4D;
    const r = ioTensor('r');
    const logits = net.logits(x);
    const features = net.penultimateFeatures(x);
    const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(net.logits(v as tf.Tensor4D), r)))(x);
    assert.deepEqual(logits.shape, [3, 10]);
    assert.deepEqual(features.shape, [3, config.hidden]);
    const errs = {
      logits: relErr(logits.dataSync(), ioArray('logits')),
      features: relErr(features.dataSync(), ioArray('features')),
      grad: relErr(grad.dataSync(), ioArray('grad_x')),
    };
    console.log(`classifier ${backend}: ${JSON.stringify(errs)}`);
    for (const [k, e] of Object.entries(errs)) assert.ok(e < TOL, `${k} rel err ${e}`);
    // The features are not trivially zero (ReLU outputs with some active units per image).
    const f = features.arraySync();
    for (const row of f) assert.ok(row.some((v) => v > 0));
    // predict agrees with the reference argmax.
    const ref = ioArray('logits');
    const expected = [0, 1, 2].map((i) => {
      const row = Array.from(ref.subarray(i * 10, i * 10 + 10));
      return row.indexOf(Math.max(...row));
    });
    assert.deepEqual(await net.predict(x), expected);
    tf.dispose([x, r, logits, features, grad]);
    net.dispose();
    assert.equal(tf.memory().numTensors, start);
  });
}

test('key mismatches are listed in one WeightError; wrong input shapes are refused', async () => {
  await useBackend('cpu');
  // The fixture is a small-width instance: the default (trained) config mis-shapes every layer.
  assert.throws(
    () => Classifier.load(weights, FASHION_CLASSIFIER_CONFIG),
    (e: unknown) => {
      assert.ok(e instanceof WeightError);
      // Every parameter but fc2.bias ([10] in both) has a width-dependent shape.
      assert.equal(e.misshaped.length, 11);
      return true;
    },
  );
  const partial: TensorMap = new Map([...weights].filter(([k]) => k !== 'fc2.bias'));
  partial.set('extra.weight', weights.get('fc2.bias') as RawTensor);
  assert.throws(
    () => Classifier.load(partial, config),
    (e: unknown) => {
      assert.ok(e instanceof WeightError);
      assert.deepEqual(e.missing, ['fc2.bias [10]']);
      assert.deepEqual(e.unexpected, ['extra.weight']);
      return true;
    },
  );
  const net = Classifier.load(weights, config);
  const wrong = tf.zeros([1, 28, 28, 1]) as tf.Tensor4D;
  assert.throws(() => net.logits(wrong), /expected N x 32 x 32 x 1 input/);
  wrong.dispose();
  net.dispose();
});
