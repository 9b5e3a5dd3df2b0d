/**
 * Sample diversity: the per-pixel standard deviation across the N samples of one image (on the
 * [0, 1] scale, samples clipped as when saved), averaged over all pixels and channels or over a
 * region's pixels. 0 when every sample is the same; it measures spread, not correctness, so it is
 * read next to PSNR: a solver that collapses to one completion scores 0 here.
 */
import type * as tf from '@tensorflow/tfjs';
import { regionFlags, unitRangeSamples, type MetricOptions } from './image-data.js';

/** Mean per-pixel population std across `samples` (row-major HWC float64 arrays of equal size). */
export function diversityOfArrays(samples: Float64Array[], channels: number, region?: Uint8Array): number {
  const n = samples.length;
  if (n < 2) throw new Error(`diversity needs at least 2 samples, got ${n}`);
  const size = (samples[0] as Float64Array).length;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < size; i++) {
    if (region && region[Math.floor(i / channels)] === 0) continue;
    let mean = 0;
    for (const s of samples) mean += s[i] as number;
    mean /= n;
    let variance = 0;
    for (const s of samples) variance += ((s[i] as number) - mean) ** 2;
    sum += Math.sqrt(variance / n);
    count++;
  }
  return sum / count;
}

/** Diversity of the N samples in `images` (N x H x W x C in [-1, 1]). */
export function diversity(images: tf.Tensor4D, options: MetricOptions = {}): number {
  const [, height, width, channels] = images.shape;
  const region = options.region === undefined ? undefined : regionFlags(options.region, height, width);
  return diversityOfArrays(unitRangeSamples(images, options.clip ?? true), channels, region);
}
