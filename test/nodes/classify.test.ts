/** `classify` through a classifier model folder: predictions equal the network's argmax; agreement with a wired label. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { TensorMap } from '../../src/checkpoint/types.js';
import { writeModelFolder } from '../../src/models/folder.js';
import { loadModel } from '../../src/models/build.js';
import { Classifier, type ClassifierConfig } from '../../src/networks/classifier.js';
import classify from '../../src/nodes/classify.js';
import { Rng } from '../../src/util/random.js';
import { tempDir } from '../engine/helpers.js';
import { makeTestContext } from '../helpers/context.js';
import { useBackend } from '../helpers/backends.js';

const config: ClassifierConfig = {
  in_channels: 1,
  resolution: 16,
  num_classes: 4,
  channels: [4, 4, 8, 8],
  hidden: 6,
};

/** Random weights under the classifier's own key names and shapes. */
function randomWeights(rng: Rng): TensorMap {
  const [c0, c1, c2, c3] = config.channels;
  const shapes: Record<string, number[]> = {
    'conv1.weight': [c0, 1, 3, 3],
    'conv2.weight': [c1, c0, 3, 3],
    'conv3.weight': [c2, c1, 3, 3],
    'conv4.weight': [c3, c2, 3, 3],
    'fc1.weight': [config.hidden, c3 * 2 * 2],
    'fc2.weight': [config.num_classes, config.hidden],
  };
  const out: TensorMap = new Map();
  for (const [k, shape] of Object.entries(shapes)) {
    const n = shape.reduce((a, b) => a * b, 1);
    out.set(k, { dtype: 'float32', shape, data: Float32Array.from(rng.normalArray(n), (v) => v * 0.5) });
    out.set(k.replace('weight', 'bias'), {
      dtype: 'float32',
      shape: [shape[0] as number],
      data: rng.normalArray(shape[0] as number),
    });
  }
  return out;
}

test('classify predicts the argmax of the classifier logits and reports agreement', async () => {
  await useBackend('wasm');
  const weights = randomWeights(new Rng(3));
  const dir = path.join(await tempDir(), 'clf');
  await writeModelFolder(
    dir,
    {
      name: 'clf',
      kind: 'classifier',
      architecture: { type: 'classifier-cnn', config: { ...config } },
      dataShape: [16, 16, 1],
      classes: { count: 4 },
    },
    weights,
  );
  const model = await loadModel(dir);
  const direct = Classifier.load(weights, config);
  const x = new Rng(5).normalTensor<tf.Tensor4D>([6, 16, 16, 1]);
  const want = await direct.predict(x);
  const label = want[0] as number;
  const ctx = makeTestContext();
  const out = (await classify.run({ model, image: x, label: [label] }, {}, ctx)) as {
    metrics: { predicted: number[]; agreement: number };
  };
  assert.deepEqual(out.metrics.predicted, want);
  assert.equal(out.metrics.agreement, want.filter((p) => p === label).length / want.length);
  assert.deepEqual(ctx.metrics.predicted, want);
  x.dispose();
  direct.dispose();
  model.dispose();
});
