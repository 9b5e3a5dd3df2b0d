/**
 * The observation as an image the size of x: what solvers encode as y_0 (VIPaint's
 * initialisation, ReSample/PSLD anchors). Inpainting: the masked image (missing pixels 0);
 * super-resolution: bicubic upsampling of y; deblurring: y itself; any other operator: A^T y.
 */
import * as tf from '@tensorflow/tfjs';
import type { MeasurementOperator } from './operator.js';
import { SuperResolutionOperator } from './sr.js';
import { bicubicUpsample } from './bicubic.js';

export function observationImage(op: MeasurementOperator): tf.Tensor4D {
  return tf.tidy(() => {
    if (op instanceof SuperResolutionOperator)
      return tf.clipByValue(bicubicUpsample(op.y, op.factor), -1, 1) as tf.Tensor4D;
    if (op.kind === 'blur') return tf.clone(op.y);
    return tf.clipByValue(op.adjoint(op.y), -1, 1) as tf.Tensor4D;
  });
}
