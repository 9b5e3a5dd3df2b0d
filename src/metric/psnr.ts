/**
 * PSNR in dB on images mapped from [-1, 1] to [0, 1] (so the data range is 1 there, equivalently
 * 2 on the original scale): 10·log10(1 / MSE) with the MSE over all pixels and channels, or over the
 * region's pixels (all channels). Identical images give +Infinity. Matches skimage's
 * `peak_signal_noise_ratio(data_range=1)` on (x + 1) / 2.
 */
import type * as tf from '@tensorflow/tfjs';
import { regionFlags, samplePairs, type MetricOptions } from './image-data.js';

/** PSNR of two row-major HWC float64 images in [0, 1]; `region` holds H·W pixel flags. */
export function psnrOfArrays(
  a: Float64Array,
  b: Float64Array,
  channels: number,
  region?: Uint8Array,
): number {
  if (a.length !== b.length) throw new Error(`psnr: arrays differ in length (${a.length} vs ${b.length})`);
  let sum = 0;
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    if (region && region[Math.floor(i / channels)] === 0) continue;
    const d = (a[i] as number) - (b[i] as number);
    sum += d * d;
    count++;
  }
  if (count === 0) throw new Error('psnr: no pixels to compare');
  const mse = sum / count;
  return mse === 0 ? Infinity : 10 * Math.log10(1 / mse);
}

/** PSNR per sample of `images` (batch N) against `reference` (batch 1 or N). */
export function psnr(images: tf.Tensor4D, reference: tf.Tensor4D, options: MetricOptions = {}): number[] {
  const { pairs, height, width, channels } = samplePairs(images, reference, options.clip ?? true);
  const region = options.region === undefined ? undefined : regionFlags(options.region, height, width);
  return pairs.map(([a, b]) => psnrOfArrays(a, b, channels, region));
}
