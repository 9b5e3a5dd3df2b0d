/**
 * `classify`: a classifier model's verdict on samples, as metrics: the predicted class of each
 * sample, the mean top-class probability, and (with a label wired) the fraction of samples whose
 * predicted class agrees with it - the paper's "plausibility" check on this domain.
 */
import * as tf from '@tensorflow/tfjs';
import { defineNode } from './define.js';
import { expectModel } from './model-inputs.js';

export default defineNode({
  type: 'classify',
  version: 1,
  category: 'evaluate',
  description: 'Classify samples with a classifier model; agreement with the true label when one is wired',
  inputs: {
    model: { type: 'model', description: 'a classifier model folder' },
    image: { type: 'image', description: 'N samples in [-1, 1]' },
    label: { type: 'labels', optional: true, description: 'the true class (from load)' },
  },
  outputs: { metrics: { type: 'metrics', description: 'predicted, confidence and agreement' } },
  params: { type: 'object', properties: {} },
  async run(inputs, _params, ctx) {
    const model = expectModel(inputs.model, ctx.nodeId);
    const c = model.classifier;
    if (!c)
      throw new Error(`node '${ctx.nodeId}': model '${model.name}' (${model.kind}) is not a classifier`);
    const x = inputs.image as tf.Tensor4D;
    const [probs, idx] = tf.tidy((): [tf.Tensor1D, tf.Tensor1D] => {
      const p = tf.softmax(c.logits(x));
      return [tf.max(p, 1) as tf.Tensor1D, tf.argMax(p, 1) as tf.Tensor1D];
    });
    const predicted = Array.from(await idx.data(), Number);
    const confidence = Array.from(await probs.data(), Number);
    tf.dispose([probs, idx]);
    const metrics: Record<string, number | number[]> = {
      predicted,
      confidence_mean: confidence.reduce((a, b) => a + b, 0) / confidence.length,
    };
    const label = (inputs.label as number[] | undefined)?.[0];
    if (label !== undefined)
      metrics.agreement = predicted.filter((p) => p === label).length / predicted.length;
    ctx.reportMetrics(metrics);
    return { metrics };
  },
});
