/**
 * The observation as an image the size of x: what solvers encode as y_0 (VIPaint's
 * initialisation, ReSample/PSLD anchors). Inpainting: the masked image, missing pixels 0 (the
 * paper's choice) or, with fill 'observed-mean', the per-channel mean of the observed pixels;
 * super-resolution: bicubic upsampling of y; deblurring: y itself; any other operator: A^T y.
 *
 * Why the fill matters: 0 is mid-grey. On natural photos that is neutral, but on a dark-background
 * domain such as Fashion-MNIST a large grey hole reads as a large bright object, and an
 * initialisation from its encoding starts the posterior on that object.
 */
import * as tf from '@tensorflow/tfjs';
import type { MeasurementOperator } from './operator.js';
import { SuperResolutionOperator } from './sr.js';
import { bicubicUpsample } from './bicubic.js';
import { InpaintOperator } from './inpaint.js';

export const OBSERVATION_FILLS = ['zero', 'observed-mean'] as const;
export type ObservationFill = (typeof OBSERVATION_FILLS)[number];

export function observationImage(op: MeasurementOperator, fill: ObservationFill = 'zero'): tf.Tensor4D {
  return tf.tidy(() => {
    if (op instanceof SuperResolutionOperator)
      return tf.clipByValue(bicubicUpsample(op.y, op.factor), -1, 1) as tf.Tensor4D;
    if (op.kind === 'blur') return tf.clone(op.y);
    const masked = tf.clipByValue(op.adjoint(op.y), -1, 1) as tf.Tensor4D;
    if (fill === 'zero' || !(op instanceof InpaintOperator)) return masked;
    // Mean over observed pixels, per channel; the mask is 1 where observed.
    const mask = op.mask;
    const observed = tf.sum(mask);
    const mean = tf.div(tf.sum(masked, [0, 1, 2], true), observed);
    return tf.add(masked, tf.mul(tf.sub(1, mask), mean)) as tf.Tensor4D;
  });
}
