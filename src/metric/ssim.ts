/**
 * SSIM as Wang et al. (2004) and scikit-image 0.19's `structural_similarity(gaussian_weights=True,
 * sigma=1.5, use_sample_covariance=False)`: local statistics under an 11-tap Gaussian window
 * (sigma 1.5, truncated at 3.5 sigma, normalised), K1 = 0.01, K2 = 0.03, on images mapped to [0, 1]
 * (data range 1). Computed in float64 in JS.
 *
 * Borders: the filter extends the image by half-sample symmetric reflection (scipy's 'reflect',
 * d c b a | a b c d), as skimage does, which defines the SSIM map at every pixel. The whole-image
 * SSIM is, like skimage's, the mean of the map after cropping (11 - 1) / 2 = 5 pixels from each
 * border (so images need at least 11 x 11 pixels). The region SSIM is the mean of the uncropped map
 * over the region's pixels, because a missing region often reaches the image border. With several
 * channels each channel has its own map and the value is the mean over channels.
 */
import type * as tf from '@tensorflow/tfjs';
import { regionFlags, samplePairs, type MetricOptions } from './image-data.js';

const SIGMA = 1.5;
const RADIUS = Math.trunc(3.5 * SIGMA + 0.5); // 5, as scipy's truncate=3.5
export const SSIM_WINDOW = 2 * RADIUS + 1;
const K1 = 0.01;
const K2 = 0.03;

const WEIGHTS: Float64Array = (() => {
  const w = new Float64Array(SSIM_WINDOW);
  let total = 0;
  for (let i = 0; i < SSIM_WINDOW; i++) {
    const d = i - RADIUS;
    w[i] = Math.exp((-0.5 * d * d) / (SIGMA * SIGMA));
    total += w[i] as number;
  }
  for (let i = 0; i < SSIM_WINDOW; i++) w[i] = (w[i] as number) / total;
  return w;
})();

/** scipy 'reflect' index: mirror about the edge, repeating the edge sample; period 2n. */
function reflectIndex(p: number, n: number): number {
  const period = 2 * n;
  let q = ((p % period) + period) % period;
  if (q >= n) q = period - 1 - q;
  return q;
}

/** Source index of each padded position -R..n-1+R along an axis of length n. */
function reflectTable(n: number): Int32Array {
  const t = new Int32Array(n + 2 * RADIUS);
  for (let i = 0; i < t.length; i++) t[i] = reflectIndex(i - RADIUS, n);
  return t;
}

/** Gaussian-filter an H x W plane (separably, reflect borders; index tables avoid per-tap modulo). */
function gaussianFilter(plane: Float64Array, h: number, w: number): Float64Array {
  const cols = reflectTable(w);
  const rows = reflectTable(h);
  const tmp = new Float64Array(h * w);
  const out = new Float64Array(h * w);
  const padded = new Float64Array(w + 2 * RADIUS);
  for (let r = 0; r < h; r++) {
    const base = r * w;
    for (let i = 0; i < padded.length; i++) padded[i] = plane[base + (cols[i] as number)] as number;
    for (let c = 0; c < w; c++) {
      let s = 0;
      for (let t = 0; t < SSIM_WINDOW; t++) s += (WEIGHTS[t] as number) * (padded[c + t] as number);
      tmp[base + c] = s;
    }
  }
  for (let r = 0; r < h; r++) {
    for (let t = 0; t < SSIM_WINDOW; t++) {
      const weight = WEIGHTS[t] as number;
      const src = (rows[r + t] as number) * w;
      const dst = r * w;
      for (let c = 0; c < w; c++) out[dst + c] = (out[dst + c] as number) + weight * (tmp[src + c] as number);
    }
  }
  return out;
}

/**
 * The SSIM map of two row-major HWC float64 images in [0, 1]: one H x W map per channel, returned
 * as HWC like the inputs (skimage's `full=True` S).
 */
export function ssimMap(
  a: Float64Array,
  b: Float64Array,
  h: number,
  w: number,
  channels: number,
): Float64Array {
  if (a.length !== h * w * channels || b.length !== a.length) {
    throw new Error(`ssim: arrays do not match ${h}x${w}x${channels}`);
  }
  const c1 = K1 * K1;
  const c2 = K2 * K2;
  const out = new Float64Array(a.length);
  const n = h * w;
  for (let ch = 0; ch < channels; ch++) {
    const x = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      x[i] = a[i * channels + ch] as number;
      y[i] = b[i * channels + ch] as number;
    }
    const product = (p: Float64Array, q: Float64Array): Float64Array => p.map((v, i) => v * (q[i] as number));
    const ux = gaussianFilter(x, h, w);
    const uy = gaussianFilter(y, h, w);
    const uxx = gaussianFilter(product(x, x), h, w);
    const uyy = gaussianFilter(product(y, y), h, w);
    const uxy = gaussianFilter(product(x, y), h, w);
    for (let i = 0; i < n; i++) {
      const mx = ux[i] as number;
      const my = uy[i] as number;
      const vx = (uxx[i] as number) - mx * mx;
      const vy = (uyy[i] as number) - my * my;
      const vxy = (uxy[i] as number) - mx * my;
      out[i * channels + ch] =
        ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
    }
  }
  return out;
}

/**
 * SSIM of two row-major HWC float64 images in [0, 1]: the border-cropped mean of the map (as
 * skimage), or with `region` (H·W flags) the mean of the full map over the region's pixels.
 */
export function ssimOfArrays(
  a: Float64Array,
  b: Float64Array,
  h: number,
  w: number,
  channels: number,
  region?: Uint8Array,
): number {
  if (!region && (h < SSIM_WINDOW || w < SSIM_WINDOW)) {
    throw new Error(`ssim: images must be at least ${SSIM_WINDOW}x${SSIM_WINDOW}, got ${h}x${w}`);
  }
  const map = ssimMap(a, b, h, w, channels);
  let sum = 0;
  let count = 0;
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const inside = region
        ? region[r * w + c] === 1
        : r >= RADIUS && r < h - RADIUS && c >= RADIUS && c < w - RADIUS;
      if (!inside) continue;
      for (let ch = 0; ch < channels; ch++) sum += map[(r * w + c) * channels + ch] as number;
      count += channels;
    }
  }
  if (count === 0) throw new Error('ssim: no pixels to average');
  return sum / count;
}

/** SSIM per sample of `images` (batch N) against `reference` (batch 1 or N). */
export function ssim(images: tf.Tensor4D, reference: tf.Tensor4D, options: MetricOptions = {}): number[] {
  const { pairs, height, width, channels } = samplePairs(images, reference, options.clip ?? true);
  const region = options.region === undefined ? undefined : regionFlags(options.region, height, width);
  return pairs.map(([a, b]) => ssimOfArrays(a, b, height, width, channels, region));
}
