/**
 * Rebuild a measurement operator from its `toSpec()` (the stage cache stores operators that way).
 * The rebuilt operator owns copies of the spec's tensors: the caller may dispose the spec afterwards.
 */
import type * as tf from '@tensorflow/tfjs';
import type { MeasurementOperator, OperatorSpec } from './operator.js';
import { InpaintOperator } from './inpaint.js';
import { SuperResolutionOperator } from './sr.js';
import { BLUR_PADDINGS, GaussianBlurOperator, type BlurPadding } from './blur.js';

export const OPERATOR_KINDS = ['inpaint', 'sr', 'blur'] as const;

function num(spec: OperatorSpec, key: string): number {
  const v = spec.params[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new Error(
      `operator spec '${spec.kind}': param '${key}' must be a number, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function shape3(spec: OperatorSpec): [number, number, number] {
  const v = spec.params['inputShape'];
  if (!Array.isArray(v) || v.length !== 3 || !v.every((d) => Number.isInteger(d) && (d as number) > 0)) {
    throw new Error(
      `operator spec '${spec.kind}': param 'inputShape' must be [H, W, C], got ${JSON.stringify(v)}`,
    );
  }
  return [v[0] as number, v[1] as number, v[2] as number];
}

function tensor4(spec: OperatorSpec, key: string): tf.Tensor4D {
  const t = spec.tensors[key];
  if (!t || t.rank !== 4)
    throw new Error(`operator spec '${spec.kind}': tensor '${key}' (rank 4) is missing`);
  return t as tf.Tensor4D;
}

export function operatorFromSpec(spec: OperatorSpec): MeasurementOperator {
  switch (spec.kind) {
    case 'inpaint': {
      const op = InpaintOperator.fromObservation(tensor4(spec, 'mask'), tensor4(spec, 'y'), {
        sigmaY: num(spec, 'sigmaY'),
      });
      const expected = shape3(spec);
      if (op.inputShape.join() !== expected.join()) {
        op.dispose();
        throw new Error(
          `operator spec 'inpaint': tensors have shape ${op.inputShape.join('x')}, params say ${expected.join('x')}`,
        );
      }
      return op;
    }
    case 'sr':
      return SuperResolutionOperator.fromObservation(
        { inputShape: shape3(spec), factor: num(spec, 'factor'), sigmaY: num(spec, 'sigmaY') },
        tensor4(spec, 'y'),
      );
    case 'blur': {
      const padding = spec.params['padding'];
      if (!BLUR_PADDINGS.includes(padding as BlurPadding)) {
        throw new Error(`operator spec 'blur': unknown padding ${JSON.stringify(padding)}`);
      }
      return GaussianBlurOperator.fromObservation(
        {
          inputShape: shape3(spec),
          size: num(spec, 'size'),
          sigma: num(spec, 'sigma'),
          padding: padding as BlurPadding,
          sigmaY: num(spec, 'sigmaY'),
        },
        tensor4(spec, 'y'),
      );
    }
    default:
      throw new Error(`unknown operator kind '${spec.kind}' (known: ${OPERATOR_KINDS.join(', ')})`);
  }
}
