/**
 * Shared plumbing for the metrics: pull per-sample pixel data out of NHWC tensors as float64 in
 * [0, 1] (x ↦ (x + 1) / 2, optionally clipped, as images are clipped when saved), and turn a region
 * (1 x H x W x 1 tensor or H·W array, non-zero = included) into a boolean pixel list.
 */
import type * as tf from '@tensorflow/tfjs';

export interface MetricOptions {
  /** Restrict the metric to these pixels (value > 0.5 = included): e.g. the missing region. */
  region?: tf.Tensor4D | ArrayLike<number>;
  /** Clip images to [-1, 1] before measuring (default true). */
  clip?: boolean;
}

/** Row-major HWC float64 images in [0, 1], one per sample. */
export function unitRangeSamples(t: tf.Tensor4D, clip: boolean): Float64Array[] {
  const [n, h, w, c] = t.shape;
  const data = t.dataSync();
  const size = h * w * c;
  const out: Float64Array[] = [];
  for (let k = 0; k < n; k++) {
    const a = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      let v = data[k * size + i] as number;
      if (clip) v = Math.min(1, Math.max(-1, v));
      a[i] = (v + 1) / 2;
    }
    out.push(a);
  }
  return out;
}

/** The region as a Uint8Array of H·W flags, validated against the image size. */
export function regionFlags(
  region: tf.Tensor4D | ArrayLike<number>,
  height: number,
  width: number,
): Uint8Array {
  let values: ArrayLike<number>;
  if ('dataSync' in region) {
    const s = region.shape;
    if (s[0] !== 1 || s[1] !== height || s[2] !== width || s[3] !== 1) {
      throw new Error(`metric region must be 1 x ${height} x ${width} x 1, got [${s.join(', ')}]`);
    }
    values = region.dataSync();
  } else {
    values = region;
  }
  if (values.length !== height * width) {
    throw new Error(`metric region has ${values.length} values, expected ${height * width}`);
  }
  const flags = new Uint8Array(height * width);
  let count = 0;
  for (let i = 0; i < flags.length; i++) {
    if ((values[i] as number) > 0.5) {
      flags[i] = 1;
      count++;
    }
  }
  if (count === 0) throw new Error('metric region is empty');
  return flags;
}

/**
 * Pair each sample of `images` with its reference: `reference` has batch 1 (shared by every
 * sample) or the same batch as `images`. Returns [image, reference] float64 pairs.
 */
export function samplePairs(
  images: tf.Tensor4D,
  reference: tf.Tensor4D,
  clip: boolean,
): { pairs: [Float64Array, Float64Array][]; height: number; width: number; channels: number } {
  const [n, h, w, c] = images.shape;
  const [m, rh, rw, rc] = reference.shape;
  if (h !== rh || w !== rw || c !== rc) {
    throw new Error(`image ${h}x${w}x${c} and reference ${rh}x${rw}x${rc} differ in size`);
  }
  if (m !== 1 && m !== n) throw new Error(`reference batch must be 1 or ${n}, got ${m}`);
  const a = unitRangeSamples(images, clip);
  const b = unitRangeSamples(reference, clip);
  return {
    pairs: a.map((x, k) => [x, b[m === 1 ? 0 : k] as Float64Array]),
    height: h,
    width: w,
    channels: c,
  };
}
