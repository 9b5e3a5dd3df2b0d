/**
 * Comparison grids: layout arithmetic, exact nearest-neighbour enlargement, grayscale promotion,
 * mask ranges, that labels really render (dark pixels in the label band, none for empty labels),
 * and no tensor leaks. Runs on every test backend (the grid reads tensors).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { gridLayout, makeGrid } from '../../src/io/grid.js';
import { TEST_BACKENDS, useBackend } from '../helpers/backends.js';

const ref = (p: number): number => p / 127.5 - 1;

async function decode(
  png: Uint8Array,
): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

test('layout: common size is the largest input, small cells enlarged by the least whole factor', () => {
  // Defaults: gap 4, label band 22, min cell 128. Width = 4 + cols * (cell + 4); height = 4 + 22 + rows * (cell + 4).
  const a = gridLayout([
    { batch: 1, height: 64, width: 64 },
    { batch: 1, height: 16, width: 16 },
    { batch: 3, height: 64, width: 64 },
  ]);
  assert.deepEqual([a.scale, a.cellHeight, a.cellWidth, a.rows, a.columns], [2, 128, 128, 3, 3]);
  assert.deepEqual([a.width, a.height], [4 + 3 * 132, 26 + 3 * 132]);
  const b = gridLayout([{ batch: 1, height: 32, width: 32 }]);
  assert.deepEqual([b.scale, b.cellWidth, b.width, b.height], [4, 128, 136, 158]);
  const c = gridLayout([{ batch: 2, height: 48, width: 40 }]); // ceil(128 / 48) = 3
  assert.deepEqual([c.scale, c.cellHeight, c.cellWidth], [3, 144, 120]);
  const d = gridLayout([{ batch: 1, height: 256, width: 256 }], { gap: 0, labelHeight: 10 });
  assert.deepEqual([d.scale, d.width, d.height], [1, 256, 266]);
});

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] grid pixels: nearest-neighbour blocks, gray promoted, mask range, labels drawn`, async () => {
    await useBackend(backend);
    const start = tf.memory().numTensors;
    // truth: 8x8 RGB with a distinct colour per pixel; measurement: 2x2 RGB (4x smaller);
    // mask: 8x8x1 in {0, 1}; sample: 8x8 grayscale.
    const truthLevels = Array.from({ length: 8 * 8 * 3 }, (_, i) => (i * 37) % 256);
    const truth = tf.tensor4d(truthLevels.map(ref), [1, 8, 8, 3]);
    const measLevels = [255, 0, 0, 0, 255, 0, 0, 0, 255, 250, 250, 10];
    const measurement = tf.tensor4d(measLevels.map(ref), [1, 2, 2, 3]);
    const maskValues = Array.from({ length: 64 }, (_, i) => ((i >> 3) + (i & 7)) % 2);
    const mask = tf.tensor4d(maskValues, [1, 8, 8, 1]);
    const grayLevels = Array.from({ length: 64 }, (_, i) => i * 4);
    const sample = tf.tensor4d(grayLevels.map(ref), [1, 8, 8, 1]);

    const png = await makeGrid([
      { label: 'truth', images: truth },
      { label: 'measurement', images: measurement },
      { label: 'mask', images: mask, range: [0, 1] },
      { label: 'sample 1', images: sample },
    ]);
    const g = await decode(png);
    // 8x8 cells -> scale 16 -> 128x128 cells.
    assert.deepEqual([g.width, g.height, g.channels], [4 + 4 * 132, 26 + 132, 3]);
    const px = (x: number, y: number): number[] =>
      Array.from(g.data.subarray((y * g.width + x) * 3, (y * g.width + x) * 3 + 3));
    const cell = (col: number, y: number, x: number): number[] => px(4 + col * 132 + x, 26 + y);

    for (let y = 0; y < 128; y++) {
      for (let x = 0; x < 128; x++) {
        const t = ((y >> 4) * 8 + (x >> 4)) * 3;
        assert.deepEqual(cell(0, y, x), truthLevels.slice(t, t + 3));
        const m = ((y >> 6) * 2 + (x >> 6)) * 3; // 2x2 measurement -> 64-pixel blocks
        assert.deepEqual(cell(1, y, x), measLevels.slice(m, m + 3));
        const k = maskValues[(y >> 4) * 8 + (x >> 4)] as number;
        assert.deepEqual(cell(2, y, x), [255 * k, 255 * k, 255 * k]);
        const v = grayLevels[(y >> 4) * 8 + (x >> 4)] as number;
        assert.deepEqual(cell(3, y, x), [v, v, v]);
      }
    }

    // Each label band (rows 0..24 above its cell) must hold dark text pixels.
    for (let col = 0; col < 4; col++) {
      let dark = 0;
      for (let y = 0; y < 25; y++)
        for (let x = 0; x < 128; x++) if (Math.max(...cell(col, y - 26, x)) < 128) dark++;
      assert.ok(dark >= 20, `column ${col}: only ${dark} dark pixels in the label band`);
    }

    // Control: without labels the band is pure background, so the pixels above come from the text.
    const blank = await decode(await makeGrid([{ label: '', images: truth }]));
    for (let y = 0; y < 25; y++)
      for (let x = 0; x < blank.width; x++) {
        const i = (y * blank.width + x) * 3;
        assert.ok(blank.data[i] === 255 || blank.data[i] === 160, `(${y},${x}) = ${blank.data[i]}`);
      }

    tf.dispose([truth, measurement, mask, sample]);
    assert.equal(tf.memory().numTensors, start);
  });
}

test('a batch column stacks its images as rows; bad shapes are refused', async () => {
  await useBackend('cpu');
  const batch = tf.tensor4d(
    Array.from({ length: 3 * 4 * 4 }, (_, i) => ref(Math.floor(i / 16) * 100)),
    [3, 4, 4, 1],
  );
  const g = await decode(await makeGrid([{ label: 'samples', images: batch }], { minCellSize: 4 }));
  assert.deepEqual([g.width, g.height], [4 + 8, 26 + 3 * 8]);
  for (let row = 0; row < 3; row++) assert.equal(g.data[((26 + row * 8) * g.width + 4) * 3], row * 100);
  const rgba = tf.zeros([1, 4, 4, 4]) as tf.Tensor4D;
  await assert.rejects(makeGrid([{ label: 'x', images: rgba }]), /expected N x H x W x 1\|3/);
  tf.dispose([batch, rgba]);
});
