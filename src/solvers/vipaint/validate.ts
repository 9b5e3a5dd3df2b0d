/**
 * Input checks shared by the VIPaint fit and samplers: each turns bad input into one clear error.
 * They read tensors asynchronously, as every backend allows (webgpu in Node reads only so).
 */
import * as tf from '@tensorflow/tfjs';
import type { MeasurementOperator } from '../../physics/operator.js';
import type { DiffusionPrior } from '../prior.js';

/** Throw unless every value of `t` is finite. */
export async function checkFinite(t: tf.Tensor, what: string): Promise<void> {
  const flag = tf.tidy(() => tf.logicalNot(tf.all(tf.isFinite(t))));
  const bad = (await flag.data())[0];
  flag.dispose();
  if (bad) throw new Error(`vipaint: ${what} contains NaN or Inf`);
}

/** The operator must accept the prior's images, observe something, and (inpainting) hide something. */
export async function checkProblem(prior: DiffusionPrior, op: MeasurementOperator): Promise<void> {
  if (prior.imageShape.join('x') !== op.inputShape.join('x')) {
    throw new Error(
      `vipaint: the measurement operator expects ${op.inputShape.join('x')} images but the prior makes ` +
        `${prior.imageShape.join('x')} images`,
    );
  }
  const y = op.y;
  if (y.shape[0] !== 1 || y.shape.slice(1).join('x') !== op.outputShape.join('x')) {
    throw new Error(`vipaint: the observation y is [${y.shape}], expected [1, ${op.outputShape.join(', ')}]`);
  }
  await checkFinite(y, 'the observation y');
  if (op.mask) {
    const sum = tf.sum(op.mask);
    const observed = (await sum.data())[0] as number;
    sum.dispose();
    const total = op.mask.size;
    if (!(observed > 0)) throw new Error('vipaint: the mask observes nothing (every entry is missing)');
    if (op.kind === 'inpaint' && observed >= total) {
      throw new Error('vipaint: the inpainting mask hides nothing (every entry is observed)');
    }
  }
}

/** y_0 must live in the prior's diffusion space: [1, ...latentShape], finite. */
export async function checkY0(prior: DiffusionPrior, y0: tf.Tensor4D): Promise<void> {
  const want = [1, ...prior.latentShape].join('x');
  if (y0.shape.join('x') !== want) {
    const hint =
      prior.space === 'pixel'
        ? 'a pixel prior takes the observation image itself as y_0, not a latent'
        : 'a latent prior takes the encoding of the degraded image as y_0, not the image';
    throw new Error(`vipaint: y_0 has shape ${y0.shape.join('x')} but the prior needs ${want} (${hint})`);
  }
  await checkFinite(y0, 'y_0');
}
