/**
 * Seeded inpainting masks for the paper's three families (docs/method.md section 6). Every generator
 * takes (height, width, rng) and returns a Float32Array of H·W values, 1 = observed, 0 = missing,
 * row-major; the missing fraction is guaranteed to lie in MASK_MISSING_RANGES[kind].
 *
 * - 'small': Palette-style, a few random boxes and thin brush strokes, 10-30% missing.
 * - 'random': free-form brush strokes in the style of CoModGAN (Zhao et al. 2021): zig-zag
 *   polylines of 4-17 vertices with round joins, widths ~1/40-1/10 of the image, mixed with
 *   random boxes, drawn until 40-80% is missing.
 * - 'rotated': one randomly rotated rectangular window hiding 50-75% of the image.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../util/random.js';
import { MissingCanvas, growMissing } from './mask-draw.js';

export type MaskKind = 'small' | 'random' | 'rotated';
export const MASK_KINDS: readonly MaskKind[] = ['small', 'random', 'rotated'];

/** Inclusive range of the missing fraction each family produces. */
export const MASK_MISSING_RANGES: Readonly<Record<MaskKind, readonly [number, number]>> = {
  small: [0.1, 0.3],
  random: [0.4, 0.8],
  rotated: [0.5, 0.75],
};

/** Smallest side accepted by the generators (the ranges need enough pixels to be reachable). */
export const MIN_MASK_SIDE = 8;

function checkSize(height: number, width: number): void {
  if (
    !Number.isInteger(height) ||
    !Number.isInteger(width) ||
    height < MIN_MASK_SIDE ||
    width < MIN_MASK_SIDE
  ) {
    throw new Error(`mask size must be integers >= ${MIN_MASK_SIDE}, got ${height}x${width}`);
  }
}

function uniformIn(rng: Rng, lo: number, hi: number): number {
  return lo + rng.uniform() * (hi - lo);
}

/** A random axis-aligned box with sides in [minSide, maxSide) of the image's sides; may overhang. */
function drawBox(canvas: MissingCanvas, rng: Rng, minSide: number, maxSide: number): void {
  const bw = canvas.width * uniformIn(rng, minSide, maxSide);
  const bh = canvas.height * uniformIn(rng, minSide, maxSide);
  const x0 = uniformIn(rng, -bw / 2, canvas.width - bw / 2);
  const y0 = uniformIn(rng, -bh / 2, canvas.height - bh / 2);
  canvas.fillBox(x0, y0, x0 + bw, y0 + bh);
}

/**
 * A zig-zag brush stroke: from a random start, `vertices` segments whose directions alternate
 * around a mean angle (as CoModGAN's RandomBrush), lengths ~ N(r, r/2) clipped to [0, 2r] with
 * r = diagonal / 8 · lengthScale, drawn with round caps and joins.
 */
function drawStroke(
  canvas: MissingCanvas,
  rng: Rng,
  opts: { minVertices: number; maxVertices: number; minWidth: number; maxWidth: number; lengthScale: number },
): void {
  const { height: h, width: w } = canvas;
  const meanAngle = (2 * Math.PI) / 5;
  const spread = (2 * Math.PI) / 15;
  const angleMin = meanAngle - rng.uniform() * spread;
  const angleMax = meanAngle + rng.uniform() * spread;
  const vertices = rng.int(opts.minVertices, opts.maxVertices + 1);
  const r = (Math.sqrt(h * h + w * w) / 8) * opts.lengthScale;
  const side = Math.min(h, w);
  const radius = Math.max(0.5, (side * uniformIn(rng, opts.minWidth, opts.maxWidth)) / 2);
  // Random overall rotation so strokes are not biased toward one direction.
  const turn = rng.uniform() * 2 * Math.PI;
  let x = rng.uniform() * w;
  let y = rng.uniform() * h;
  for (let i = 0; i < vertices; i++) {
    const a = uniformIn(rng, angleMin, angleMax);
    const angle = turn + (i % 2 === 0 ? 2 * Math.PI - a : a);
    const len = Math.min(2 * r, Math.max(0, r + (r / 2) * rng.normal()));
    const nx = Math.min(w, Math.max(0, x + len * Math.cos(angle)));
    const ny = Math.min(h, Math.max(0, y + len * Math.sin(angle)));
    canvas.fillCapsule(x, y, nx, ny, radius);
    x = nx;
    y = ny;
  }
}

/** Palette-style small masks: a few boxes and thin strokes, 10-30% missing. */
export function smallMask(height: number, width: number, rng: Rng): Float32Array {
  checkSize(height, width);
  const [lo, hi] = MASK_MISSING_RANGES.small;
  const canvas = growMissing(new MissingCanvas(height, width), lo, hi, rng, (c, g) => {
    if (g.uniform() < 0.5) drawBox(c, g, 0.1, 0.35);
    else
      drawStroke(c, g, {
        minVertices: 2,
        maxVertices: 6,
        minWidth: 1 / 32,
        maxWidth: 1 / 12,
        lengthScale: 0.6,
      });
  });
  return canvas.toObservedMask();
}

/** Free-form brush-stroke masks (CoModGAN / Zhao et al. 2021 style), 40-80% missing. */
export function randomStrokeMask(height: number, width: number, rng: Rng): Float32Array {
  checkSize(height, width);
  const [lo, hi] = MASK_MISSING_RANGES.random;
  const canvas = growMissing(new MissingCanvas(height, width), lo, hi, rng, (c, g) => {
    if (g.uniform() < 0.25) drawBox(c, g, 0.05, 0.5);
    else
      drawStroke(c, g, {
        minVertices: 4,
        maxVertices: 17,
        minWidth: 1 / 40,
        maxWidth: 1 / 10,
        lengthScale: 1,
      });
  });
  return canvas.toObservedMask();
}

/**
 * A rotated rectangular window: centre in the middle 40% of the image, angle uniform in [0, π),
 * aspect ratio log-uniform in [1/2, 2]. Pixels are ranked by their rectangle norm
 * max(|u|/a, |v|/b) in the window's rotated frame and the k = round(f·H·W) smallest are hidden, with
 * f uniform in the range: the hidden set is the rectangle (clipped to the image) grown to exactly k
 * pixels, so the fraction is exact and no rejection loop is needed.
 */
export function rotatedWindowMask(height: number, width: number, rng: Rng): Float32Array {
  checkSize(height, width);
  const [lo, hi] = MASK_MISSING_RANGES.rotated;
  const total = height * width;
  const cx = width * uniformIn(rng, 0.3, 0.7);
  const cy = height * uniformIn(rng, 0.3, 0.7);
  const theta = rng.uniform() * Math.PI;
  const aspect = Math.exp(uniformIn(rng, -Math.LN2, Math.LN2));
  const fraction = uniformIn(rng, lo, hi);
  const k = Math.min(Math.floor(hi * total), Math.max(Math.ceil(lo * total), Math.round(fraction * total)));
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const norm = new Float64Array(total);
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      const dx = c + 0.5 - cx;
      const dy = r + 0.5 - cy;
      const u = dx * cos + dy * sin;
      const v = -dx * sin + dy * cos;
      norm[r * width + c] = Math.max(Math.abs(u) / aspect, Math.abs(v));
    }
  }
  const order = Array.from({ length: total }, (_, i) => i);
  order.sort((i, j) => (norm[i] as number) - (norm[j] as number) || i - j);
  const mask = new Float32Array(total).fill(1);
  for (let i = 0; i < k; i++) mask[order[i] as number] = 0;
  return mask;
}

export function generateMask(kind: MaskKind, height: number, width: number, rng: Rng): Float32Array {
  switch (kind) {
    case 'small':
      return smallMask(height, width, rng);
    case 'random':
      return randomStrokeMask(height, width, rng);
    case 'rotated':
      return rotatedWindowMask(height, width, rng);
    default:
      throw new Error(`unknown mask kind '${String(kind)}' (choose one of ${MASK_KINDS.join(', ')})`);
  }
}

/** Fraction of entries that are missing (< 0.5) in an observed-ones mask. */
export function missingFraction(mask: ArrayLike<number>): number {
  let missing = 0;
  for (let i = 0; i < mask.length; i++) if ((mask[i] as number) < 0.5) missing++;
  return missing / mask.length;
}

/** A 1 x H x W x 1 float32 tensor from a row-major mask. */
export function maskToTensor(mask: Float32Array, height: number, width: number): tf.Tensor4D {
  if (mask.length !== height * width) {
    throw new Error(`mask has ${mask.length} values, expected ${height}x${width} = ${height * width}`);
  }
  return tf.tensor4d(mask, [1, height, width, 1]);
}

export { loadMaskFile, type LoadMaskOptions } from './mask-file.js';
