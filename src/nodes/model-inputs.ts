/** Checks shared by the nodes that take a model: one-line errors naming the node. */
import type * as tf from '@tensorflow/tfjs';
import type { LoadedModel } from '../models/build.js';
import type { LpipsSqueeze } from '../networks/lpips.js';

export function expectModel(v: unknown, nodeId: string): LoadedModel {
  const m = v as LoadedModel | undefined;
  if (!m || typeof m !== 'object' || typeof m.prior !== 'function') {
    throw new Error(`node '${nodeId}': input 'model' is not a loaded model`);
  }
  return m;
}

/** The network of a perceptual (LPIPS) model wired into input `perceptual`. */
export function expectPerceptual(v: unknown, nodeId: string): LpipsSqueeze {
  const model = expectModel(v, nodeId);
  if (!model.perceptual)
    throw new Error(
      `node '${nodeId}': input 'perceptual' needs a perceptual model (LPIPS), got '${model.name}' (${model.kind})`,
    );
  return model.perceptual;
}

export function expectShape(t: tf.Tensor, want: readonly number[], what: string, nodeId: string): void {
  const got = t.shape.slice(1);
  if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
    throw new Error(
      `node '${nodeId}': ${what} is ${got.join('x')} per sample but the model expects ${want.join('x')}`,
    );
  }
}
