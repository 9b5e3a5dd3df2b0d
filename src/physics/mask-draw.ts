/**
 * Raster primitives for mask generators: a canvas of missing pixels, filled boxes and round-capped
 * thick line segments (capsules), and a driver that keeps adding shapes until the missing fraction
 * lands in a required range. A pixel (row r, column c) is sampled at its centre (c + 0.5, r + 0.5).
 */
import type { Rng } from '../util/random.js';

export class MissingCanvas {
  readonly missing: Uint8Array;
  private count = 0;

  constructor(
    readonly height: number,
    readonly width: number,
  ) {
    this.missing = new Uint8Array(height * width);
  }

  get missingCount(): number {
    return this.count;
  }

  fraction(): number {
    return this.count / (this.height * this.width);
  }

  hide(row: number, col: number): void {
    const i = row * this.width + col;
    if (this.missing[i] === 0) {
      this.missing[i] = 1;
      this.count++;
    }
  }

  /** Hide the pixels whose centres lie in [x0, x1) x [y0, y1) (clipped to the canvas). */
  fillBox(x0: number, y0: number, x1: number, y1: number): void {
    const c0 = Math.max(0, Math.ceil(x0 - 0.5));
    const c1 = Math.min(this.width, Math.ceil(x1 - 0.5));
    const r0 = Math.max(0, Math.ceil(y0 - 0.5));
    const r1 = Math.min(this.height, Math.ceil(y1 - 0.5));
    for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) this.hide(r, c);
  }

  /** Hide the pixels whose centres are within `radius` of the segment from (ax, ay) to (bx, by). */
  fillCapsule(ax: number, ay: number, bx: number, by: number, radius: number): void {
    const c0 = Math.max(0, Math.floor(Math.min(ax, bx) - radius - 0.5));
    const c1 = Math.min(this.width - 1, Math.ceil(Math.max(ax, bx) + radius - 0.5));
    const r0 = Math.max(0, Math.floor(Math.min(ay, by) - radius - 0.5));
    const r1 = Math.min(this.height - 1, Math.ceil(Math.max(ay, by) + radius - 0.5));
    const dx = bx - ax;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy;
    const rad2 = radius * radius;
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        const px = c + 0.5 - ax;
        const py = r + 0.5 - ay;
        const t = len2 > 0 ? Math.min(1, Math.max(0, (px * dx + py * dy) / len2)) : 0;
        const ex = px - t * dx;
        const ey = py - t * dy;
        if (ex * ex + ey * ey <= rad2) this.hide(r, c);
      }
    }
  }

  clone(): MissingCanvas {
    const copy = new MissingCanvas(this.height, this.width);
    copy.missing.set(this.missing);
    copy.count = this.count;
    return copy;
  }

  /** The mask as 1 = observed, 0 = missing. */
  toObservedMask(): Float32Array {
    const out = new Float32Array(this.missing.length);
    for (let i = 0; i < out.length; i++) out[i] = this.missing[i] ? 0 : 1;
    return out;
  }
}

/** Consecutive rejected shapes after which the driver falls back to hiding single pixels. */
const MAX_REJECTIONS = 200;

/**
 * Add shapes drawn by `draw` until the missing fraction reaches a target drawn uniformly from
 * [lo, hi - 1/(H·W)]; a shape that would push the fraction above `hi` is discarded and redrawn.
 * If shapes keep overshooting, single random pixels are hidden instead (each adds only 1/(H·W)),
 * so the result always lies in [lo, hi] and the loop always ends. Returns a new canvas.
 */
export function growMissing(
  canvas: MissingCanvas,
  lo: number,
  hi: number,
  rng: Rng,
  draw: (target: MissingCanvas, rng: Rng) => void,
): MissingCanvas {
  const total = canvas.height * canvas.width;
  if (hi - lo < 1 / total)
    throw new Error(`mask of ${canvas.height}x${canvas.width} is too small for range [${lo}, ${hi}]`);
  const target = lo + rng.uniform() * (hi - lo - 1 / total);
  let rejections = 0;
  let current = canvas.clone();
  while (current.fraction() < target) {
    if (rejections < MAX_REJECTIONS) {
      const trial = current.clone();
      draw(trial, rng);
      // A shape that overshoots, or that adds nothing, counts as a rejection.
      if (trial.fraction() <= hi && trial.missingCount > current.missingCount) {
        current = trial;
        rejections = 0;
      } else {
        rejections++;
      }
    } else {
      const i = rng.int(0, total);
      current.hide(Math.floor(i / canvas.width), i % canvas.width);
    }
  }
  return current;
}
