/**
 * Input checks shared by the measurement, reconstruction and metric nodes: each failure is one
 * line naming the node and what is wrong.
 */
import * as tf from '@tensorflow/tfjs';
import type { MeasurementOperator } from './operator.js';

function shapeOf(value: unknown): string {
  return value instanceof tf.Tensor ? `[${value.shape.join(', ')}]` : typeof value;
}

/** An N x H x W x C image (C 1 or 3); with `batch`, N must equal it. */
export function expectImage(value: unknown, name: string, nodeId: string, batch?: number): tf.Tensor4D {
  if (value === undefined) throw new Error(`node '${nodeId}': input '${name}' is not wired`);
  if (!(value instanceof tf.Tensor) || value.rank !== 4 || (value.shape[3] !== 1 && value.shape[3] !== 3)) {
    throw new Error(
      `node '${nodeId}': input '${name}' must be an N x H x W x (1|3) image, got ${shapeOf(value)}`,
    );
  }
  if (batch !== undefined && value.shape[0] !== batch) {
    throw new Error(`node '${nodeId}': input '${name}' must have batch ${batch}, got ${value.shape[0]}`);
  }
  return value as tf.Tensor4D;
}

/** A 1 x H x W x 1 mask of the given size. */
export function expectMask(
  value: unknown,
  name: string,
  nodeId: string,
  height: number,
  width: number,
): tf.Tensor4D {
  if (!(value instanceof tf.Tensor) || value.rank !== 4) {
    throw new Error(`node '${nodeId}': input '${name}' must be a 1 x H x W x 1 mask, got ${shapeOf(value)}`);
  }
  const s = value.shape;
  if (s[0] !== 1 || s[1] !== height || s[2] !== width || s[3] !== 1) {
    throw new Error(
      `node '${nodeId}': mask [${s.join(', ')}] does not match the image (expected [1, ${height}, ${width}, 1])`,
    );
  }
  return value as tf.Tensor4D;
}

/** Throw unless the mask (1 = observed) has at least one missing and one observed pixel. */
export function checkMaskCoverage(mask: ArrayLike<number>, nodeId: string, what = 'mask'): void {
  let missing = 0;
  for (let i = 0; i < mask.length; i++) if ((mask[i] as number) < 0.5) missing++;
  if (missing === 0)
    throw new Error(`node '${nodeId}': ${what} has nothing missing (every pixel is observed)`);
  if (missing === mask.length)
    throw new Error(`node '${nodeId}': ${what} has nothing observed (every pixel is missing)`);
}

export function expectOperator(value: unknown, name: string, nodeId: string): MeasurementOperator {
  if (value === undefined) throw new Error(`node '${nodeId}': input '${name}' is not wired`);
  const op = value as Partial<MeasurementOperator> | null;
  if (
    op === null ||
    typeof op !== 'object' ||
    typeof op.forward !== 'function' ||
    typeof op.adjoint !== 'function' ||
    !(op.y instanceof tf.Tensor)
  ) {
    throw new Error(`node '${nodeId}': input '${name}' is not a measurement operator`);
  }
  return op as MeasurementOperator;
}

/** Prefix an error from a library call with the node id, keeping one line. */
export function nodeError(nodeId: string, e: unknown): Error {
  const msg = e instanceof Error ? e.message : String(e);
  return new Error(`node '${nodeId}': ${msg.split('\n')[0]}`, { cause: e });
}

/** The `sigmaY` param every measurement node declares. */
export const SIGMA_Y_PARAM = {
  type: 'number',
  minimum: 0,
  default: 0,
  description: 'Std of the Gaussian measurement noise',
} as const;
