/** Mask generators: missing fraction always in range, determinism per seed; mask files via sharp. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  MASK_KINDS,
  MASK_MISSING_RANGES,
  generateMask,
  loadMaskFile,
  missingFraction,
} from '../../src/physics/masks.js';
import { Rng } from '../../src/util/random.js';

const SIZES: [number, number, number][] = [
  // [height, width, seeds]
  [32, 32, 150],
  [64, 64, 80],
  [48, 80, 40],
  [256, 256, 12],
];

for (const kind of MASK_KINDS) {
  test(`'${kind}' masks: missing fraction in range for every seed and size, binary, deterministic`, (t) => {
    const [lo, hi] = MASK_MISSING_RANGES[kind];
    for (const [h, w, seeds] of SIZES) {
      let min = 1;
      let max = 0;
      for (let seed = 0; seed < seeds; seed++) {
        const m = generateMask(kind, h, w, new Rng(seed));
        assert.equal(m.length, h * w);
        assert.ok(
          m.every((v) => v === 0 || v === 1),
          'mask values must be 0 or 1',
        );
        const f = missingFraction(m);
        assert.ok(
          f >= lo && f <= hi,
          `${kind} ${h}x${w} seed ${seed}: missing fraction ${f} outside [${lo}, ${hi}]`,
        );
        min = Math.min(min, f);
        max = Math.max(max, f);
      }
      t.diagnostic(
        `${kind} ${h}x${w}: ${seeds} seeds, missing fraction in [${min.toFixed(3)}, ${max.toFixed(3)}]`,
      );
      // The fractions should actually spread over the range, not sit at one end.
      if (seeds >= 40) assert.ok(max - min > (hi - lo) / 3, `${kind} ${h}x${w}: fractions barely vary`);
    }
    assert.deepEqual(generateMask(kind, 64, 48, new Rng(3)), generateMask(kind, 64, 48, new Rng(3)));
    assert.notDeepEqual(generateMask(kind, 64, 48, new Rng(3)), generateMask(kind, 64, 48, new Rng(4)));
  });
}

test('rotated window is one convex region: every row and column of it is a single run', () => {
  for (let seed = 0; seed < 20; seed++) {
    const [h, w] = [40, 56];
    const m = generateMask('rotated', h, w, new Rng(seed));
    const runs = (get: (i: number) => number, n: number): number => {
      let count = 0;
      for (let i = 0; i < n; i++) if (get(i) === 0 && (i === 0 || get(i - 1) !== 0)) count++;
      return count;
    };
    // Ties at the grown boundary may add a pixel next to the run, never a separate run.
    for (let r = 0; r < h; r++)
      assert.ok(runs((c) => m[r * w + c] as number, w) <= 1, `seed ${seed} row ${r}`);
    for (let c = 0; c < w; c++)
      assert.ok(runs((r) => m[r * w + c] as number, h) <= 1, `seed ${seed} col ${c}`);
  }
});

test('generators reject unknown kinds and tiny sizes', () => {
  assert.throws(() => generateMask('huge' as never, 32, 32, new Rng(1)), /unknown mask kind 'huge'/);
  assert.throws(() => generateMask('small', 4, 32, new Rng(1)), /mask size must be integers >= 8/);
});

test('loadMaskFile: white = observed, nearest resize, invert, clear errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flow-mask-'));
  // 4x4 source: left half white (observed), right half black; with an alpha channel to be dropped.
  const src = new Uint8Array(4 * 4 * 4);
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 4; c++) {
      const v = c < 2 ? 255 : 0;
      src.set([v, v, v, 255], (r * 4 + c) * 4);
    }
  }
  const path = join(dir, 'half.png');
  await sharp(Buffer.from(src), { raw: { width: 4, height: 4, channels: 4 } })
    .png()
    .toFile(path);
  const m = await loadMaskFile(path, { height: 8, width: 12 });
  assert.equal(m.length, 96);
  for (let r = 0; r < 8; r++) {
    for (let c = 0; c < 12; c++) assert.equal(m[r * 12 + c], c < 6 ? 1 : 0, `pixel ${r},${c}`);
  }
  const inv = await loadMaskFile(path, { height: 8, width: 12, invert: true });
  for (let i = 0; i < 96; i++) assert.equal(inv[i], 1 - (m[i] as number));
  await assert.rejects(
    loadMaskFile(join(dir, 'nope.png'), { height: 8, width: 8 }),
    /mask file '.*nope\.png' does not exist/,
  );
  const corrupt = join(dir, 'corrupt.png');
  writeFileSync(corrupt, 'this is not a png');
  await assert.rejects(
    loadMaskFile(corrupt, { height: 8, width: 8 }),
    /mask file '.*corrupt\.png' could not be decoded as an image/,
  );
});
