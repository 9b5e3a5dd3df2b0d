/**
 * Clip to the image range [-1, 1] but keep NaN and infinity as they are: tf's clip turns NaN
 * into -1 on wasm, so a diverged solver would otherwise leave an all-black image that the
 * runtime's finite-output check (src/runtime/finite.ts) can no longer see.
 */
import * as tf from '@tensorflow/tfjs';

export function clipImage<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.where(tf.isFinite(x), tf.clipByValue(x, -1, 1), x) as T);
}
