/**
 * Live previews: while a solver works it can show what it currently predicts (the decoded x_hat
 * of its samples) every few steps. Solvers call `emitPreview` at each step with a thunk that makes
 * the images; the thunk runs only when a preview is due, inside a tidy, so a run without previews
 * does no extra work and a run with them keeps no tensors. Previews only read tensors the solver
 * already has (and at most decode them): no random numbers are drawn, so results do not change.
 */
import * as tf from '@tensorflow/tfjs';
import { floatToUint8 } from './pixels.js';

/** One preview: the batch's images side by side as one 8-bit HWC strip. */
export interface PreviewImage {
  step: number;
  total: number;
  /** Number of images in the strip (the solver's batch). */
  count: number;
  width: number;
  height: number;
  channels: number;
  pixels: Uint8Array;
}

/** Where a solver sends previews, and how often (every `every` steps and at the last step). */
export interface PreviewSink {
  readonly every: number;
  emit(image: PreviewImage): void;
}

export function previewDue(sink: PreviewSink | undefined, step: number, total: number): sink is PreviewSink {
  return sink !== undefined && (step % sink.every === 0 || step === total);
}

/**
 * Send a preview of `images()` (N x H x W x C, [-1, 1]; clipped here) when one is due at this
 * step. The thunk's tensors are disposed; tensors it merely returns from outside are not.
 */
export function emitPreview(
  sink: PreviewSink | undefined,
  step: number,
  total: number,
  images: () => tf.Tensor4D,
): void {
  if (!previewDue(sink, step, total)) return;
  let count = 0;
  const strip = tf.tidy(() => {
    const x = tf.clipByValue(images(), -1, 1);
    const [n, h, w, c] = x.shape as [number, number, number, number];
    count = n;
    return tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [h, n * w, c]) as tf.Tensor3D;
  });
  const [height, width, channels] = strip.shape;
  const values = strip.dataSync();
  strip.dispose();
  sink.emit({
    step,
    total,
    count,
    width,
    height,
    channels,
    pixels: floatToUint8(values),
  });
}
