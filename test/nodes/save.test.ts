/**
 * The `save` node: files go only through ctx.writeFile, with the expected names; sample PNGs hold
 * exactly the quantised samples; the grid has one column per wired input plus one per sample; no
 * tensor is leaked. Runs on every test backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import save, { sampleFileName, type SaveParams } from '../../src/nodes/save.js';
import { createAjv } from '../../src/graph/ajv.js';
import { makeTestContext } from '../helpers/context.js';
import { TEST_BACKENDS, useBackend } from '../helpers/backends.js';

const validate = createAjv().compile(save.params);

function params(p: Record<string, unknown>): SaveParams {
  const copy = structuredClone(p);
  assert.ok(validate(copy), JSON.stringify(validate.errors));
  return copy as unknown as SaveParams;
}

test('params: defaults individual, grid, empty prefix, png', () => {
  assert.deepEqual(params({}), { individual: true, grid: true, prefix: '', format: 'png' });
  assert.equal(validate({ format: 'jpeg' }), false);
});

test('sample file names are zero-padded to at least two digits and to the batch size', () => {
  assert.equal(sampleFileName(0, 1), 'sample-00.png');
  assert.equal(sampleFileName(11, 12), 'sample-11.png');
  assert.equal(sampleFileName(7, 101), 'sample-007.png');
});

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] writes per-sample PNGs and a grid under <prefix><key>/, exactly quantised`, async () => {
    await useBackend(backend);
    const start = tf.memory().numTensors;
    const levels = Array.from({ length: 3 * 8 * 8 * 3 }, (_, i) => (i * 53) % 256);
    const samples = tf.tensor4d(
      levels.map((p) => p / 127.5 - 1),
      [3, 8, 8, 3],
    );
    const truth = tf.zeros([1, 8, 8, 3]);
    const measurement = tf.zeros([1, 2, 2, 3]);
    const mask = tf.ones([1, 8, 8, 1]);
    const ctx = makeTestContext({ item: { key: 'astronaut', index: 0, meta: {} } });
    const out = await save.run({ samples, truth, measurement, mask }, params({ prefix: 'sr-' }), ctx);
    assert.deepEqual(out, {});
    assert.deepEqual(
      ctx.files.map((f) => f.path),
      [
        'sr-astronaut/sample-00.png',
        'sr-astronaut/sample-01.png',
        'sr-astronaut/sample-02.png',
        'sr-astronaut/grid.png',
      ],
    );
    for (let i = 0; i < 3; i++) {
      const raw = await sharp((ctx.files[i] as { bytes: Uint8Array }).bytes)
        .raw()
        .toBuffer();
      assert.deepEqual(Array.from(raw), levels.slice(i * 192, (i + 1) * 192));
    }
    // Columns truth, measurement, mask, sample 1..3 of 8x8 cells enlarged x16 to 128.
    const grid = await sharp((ctx.files[3] as { bytes: Uint8Array }).bytes).metadata();
    assert.deepEqual([grid.width, grid.height], [4 + 6 * 132, 26 + 132]);
    tf.dispose([samples, truth, measurement, mask]);
    assert.equal(tf.memory().numTensors, start);
  });
}

test('individual / grid switches, no item key, and input checks', async () => {
  await useBackend('cpu');
  const samples = tf.zeros([2, 4, 4, 1]);
  const onlyGrid = makeTestContext({ item: undefined });
  await save.run({ samples }, params({ individual: false }), { ...onlyGrid, item: undefined });
  assert.deepEqual(
    onlyGrid.files.map((f) => f.path),
    ['result/grid.png'],
  );
  const onlySamples = makeTestContext();
  await save.run({ samples }, params({ grid: false, prefix: 'run/' }), onlySamples);
  assert.deepEqual(
    onlySamples.files.map((f) => f.path),
    ['run/item0/sample-00.png', 'run/item0/sample-01.png'],
  );
  const meta = await sharp((onlySamples.files[0] as { bytes: Uint8Array }).bytes).metadata();
  assert.equal(meta.channels, 1);

  const rgbMask = tf.zeros([1, 4, 4, 3]);
  await assert.rejects(
    Promise.resolve(save.run({ samples, mask: rgbMask }, params({}), makeTestContext())),
    /input 'mask' must be N x H x W x 1/,
  );
  await assert.rejects(
    Promise.resolve(save.run({}, params({}), makeTestContext())),
    /input 'samples' is not wired/,
  );
  tf.dispose([samples, rgbMask]);
});
