/**
 * The measurement nodes and reconstruct.naive, called through `run` with a recording context:
 * outputs agree with the operators they wrap, seeds are respected, inputs are validated with
 * errors naming the node, and nothing leaks once the outputs are disposed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import { makeTestContext } from '../helpers/context.js';
import { createAjv } from '../../src/graph/ajv.js';
import type { NodeDefinition, Outputs } from '../../src/nodes/define.js';
import type { MeasurementOperator } from '../../src/physics/operator.js';
import measureInpaint from '../../src/nodes/measure-inpaint.js';
import measureSr from '../../src/nodes/measure-sr.js';
import measureBlur from '../../src/nodes/measure-blur.js';
import reconstructNaive from '../../src/nodes/reconstruct-naive.js';
import { MASK_MISSING_RANGES, missingFraction } from '../../src/physics/masks.js';
import { bicubicUpsample } from '../../src/physics/bicubic.js';
import { InpaintOperator } from '../../src/physics/inpaint.js';
import { SuperResolutionOperator } from '../../src/physics/sr.js';
import { GaussianBlurOperator } from '../../src/physics/blur.js';

/** Params with the schema's defaults applied, as the engine does (and checks the schema is valid). */
function params<P>(def: NodeDefinition<P>, given: Record<string, unknown> = {}): P {
  const value = structuredClone(given);
  const validate = createAjv().compile(def.params);
  if (!validate(value)) throw new Error(`invalid params: ${JSON.stringify(validate.errors)}`);
  return value as P;
}

function testImage(h: number, w: number, c: number): tf.Tensor4D {
  return tf.tidy(() =>
    tf.sub(tf.mul(tf.randomUniform([1, h, w, c], 0, 1, 'float32', 17), 2), 1),
  ) as tf.Tensor4D;
}

function disposeOutputs(out: Outputs): void {
  for (const v of Object.values(out)) {
    if (v instanceof tf.Tensor) v.dispose();
    else (v as MeasurementOperator).dispose();
  }
}

function maxAbs(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

async function writePng(
  path: string,
  h: number,
  w: number,
  value: (r: number, c: number) => number,
): Promise<void> {
  const px = new Uint8Array(h * w);
  for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) px[r * w + c] = value(r, c);
  await sharp(Buffer.from(px), { raw: { width: w, height: h, channels: 1 } })
    .png()
    .toFile(path);
}

for (const backend of TEST_BACKENDS) {
  test(`measure.inpaint: generated masks, seeds, y = mask ⊙ x, no leaks [${backend}]`, async () => {
    await useBackend(backend);
    const image = testImage(64, 64, 3);
    const before = tf.memory().numTensors;
    for (const kind of ['rotated', 'random', 'small'] as const) {
      const p = params(measureInpaint, { mask: kind });
      const out = await measureInpaint.run({ image }, p, makeTestContext({ nodeId: 'm', seed: 5 }));
      const op = out['operator'] as InpaintOperator;
      const mask = out['mask'] as tf.Tensor4D;
      const y = out['measurement'] as tf.Tensor4D;
      assert.ok(op instanceof InpaintOperator);
      assert.deepEqual(mask.shape, [1, 64, 64, 1]);
      const f = missingFraction(mask.dataSync());
      const [lo, hi] = MASK_MISSING_RANGES[kind];
      assert.ok(f >= lo && f <= hi, `${kind}: missing fraction ${f}`);
      const expected = tf.mul(image, mask);
      assert.equal(maxAbs(y, expected), 0, `${kind}: y must be mask ⊙ x without noise`);
      assert.deepEqual(op.mask.dataSync(), mask.dataSync());
      // Same seed, same mask; another seed, another mask.
      const again = await measureInpaint.run({ image }, p, makeTestContext({ nodeId: 'm', seed: 5 }));
      const other = await measureInpaint.run({ image }, p, makeTestContext({ nodeId: 'm', seed: 6 }));
      assert.deepEqual((again['mask'] as tf.Tensor).dataSync(), mask.dataSync());
      assert.notDeepEqual((other['mask'] as tf.Tensor).dataSync(), mask.dataSync());
      expected.dispose();
      [out, again, other].forEach(disposeOutputs);
    }
    assert.equal(tf.memory().numTensors, before, 'measure.inpaint leaked tensors');
    // With noise: observed pixels change, missing ones stay 0.
    const noisy = await measureInpaint.run(
      { image },
      params(measureInpaint, { sigmaY: 0.2 }),
      makeTestContext({ nodeId: 'm' }),
    );
    const m = (noisy['mask'] as tf.Tensor).dataSync();
    const y = (noisy['measurement'] as tf.Tensor).dataSync();
    const x = image.dataSync();
    let changed = 0;
    for (let i = 0; i < y.length; i++) {
      if ((m[Math.floor(i / 3)] as number) === 0) assert.ok(y[i] === 0, `missing pixel ${i} is ${y[i]}`);
      else if (y[i] !== x[i]) changed++;
    }
    assert.ok(changed > 0.99 * (1 - missingFraction(m)) * y.length, 'noise missing on observed pixels');
    disposeOutputs(noisy);
    image.dispose();
  });
}

test('measure.inpaint: mask files (relative to baseDir, resized, inverted), cache key, clear errors', async () => {
  await useBackend('cpu');
  const dir = mkdtempSync(join(tmpdir(), 'flow-measure-'));
  // 16x16 file: top 4 rows black (missing), rest white.
  await writePng(join(dir, 'top.png'), 16, 16, (r) => (r < 4 ? 0 : 255));
  await writePng(join(dir, 'white.png'), 8, 8, () => 255);
  writeFileSync(join(dir, 'broken.png'), 'not an image');
  const image = testImage(32, 24, 1);
  // Relative paths resolve against the declaring file's folder (ctx.baseDir).
  const p = params(measureInpaint, { mask: 'file', maskPath: 'top.png', resizeMask: true });
  const out = await measureInpaint.run({ image }, p, makeTestContext({ nodeId: 'inp', baseDir: dir }));
  const mask = (out['mask'] as tf.Tensor).dataSync();
  for (let r = 0; r < 32; r++) for (let c = 0; c < 24; c++) assert.equal(mask[r * 24 + c], r < 8 ? 0 : 1);
  disposeOutputs(out);
  // The baseDir param overrides the context's folder.
  const inv = await measureInpaint.run(
    { image },
    { ...p, invert: true, baseDir: dir },
    makeTestContext({ nodeId: 'inp', baseDir: tmpdir() }),
  );
  assert.equal((inv['mask'] as tf.Tensor).dataSync()[0], 1);
  disposeOutputs(inv);
  const key = await measureInpaint.cacheKey?.(p, { baseDir: dir });
  assert.match(String(key), /^[0-9a-f]{64}$/);
  assert.notEqual(await measureInpaint.cacheKey?.({ ...p, maskPath: 'white.png' }, { baseDir: dir }), key);
  assert.equal(await measureInpaint.cacheKey?.(params(measureInpaint), { baseDir: dir }), '');
  const ctx = makeTestContext({ nodeId: 'inp', baseDir: dir });
  await assert.rejects(
    Promise.resolve(measureInpaint.run({ image }, { ...p, maskPath: 'white.png' }, ctx)),
    /node 'inp': mask file 'white.png' has nothing missing/,
  );
  await assert.rejects(
    Promise.resolve(measureInpaint.run({ image }, { ...p, maskPath: 'nope.png' }, ctx)),
    /node 'inp': mask file '.*nope\.png' does not exist/,
  );
  await assert.rejects(
    Promise.resolve(measureInpaint.run({ image }, { ...p, maskPath: 'broken.png' }, ctx)),
    /node 'inp': mask file '.*broken\.png' could not be decoded/,
  );
  await assert.rejects(
    Promise.resolve(measureInpaint.run({ image }, { ...p, maskPath: undefined }, ctx)),
    /node 'inp': mask: 'file' needs the maskPath param/,
  );
  const batch2 = tf.concat([image, image]) as tf.Tensor4D;
  await assert.rejects(
    Promise.resolve(measureInpaint.run({ image: batch2 }, params(measureInpaint), ctx)),
    /node 'inp': input 'image' must have batch 1, got 2/,
  );
  await assert.rejects(
    Promise.resolve(measureInpaint.run({}, params(measureInpaint), ctx)),
    /node 'inp': input 'image' is not wired/,
  );
  tf.dispose([image, batch2]);
});

for (const backend of TEST_BACKENDS) {
  test(`measure.sr and measure.blur: defaults, y = A(x), validation, no leaks [${backend}]`, async () => {
    await useBackend(backend);
    const image = testImage(64, 64, 3);
    const before = tf.memory().numTensors;
    const ctx = makeTestContext({ nodeId: 'meas' });

    const sr = await measureSr.run({ image }, params(measureSr), ctx);
    const srOp = sr['operator'] as SuperResolutionOperator;
    assert.ok(srOp instanceof SuperResolutionOperator);
    assert.equal(srOp.factor, 4);
    assert.deepEqual((sr['measurement'] as tf.Tensor).shape, [1, 16, 16, 3]);
    const srClean = srOp.forward(image);
    assert.equal(maxAbs(sr['measurement'] as tf.Tensor, srClean), 0);
    srClean.dispose();

    const blur = await measureBlur.run({ image }, params(measureBlur), ctx);
    const blurOp = blur['operator'] as GaussianBlurOperator;
    assert.deepEqual([blurOp.size, blurOp.sigma, blurOp.padding], [61, 3, 'reflect']);
    assert.deepEqual((blur['measurement'] as tf.Tensor).shape, [1, 64, 64, 3]);
    const blurClean = blurOp.forward(image);
    assert.equal(maxAbs(blur['measurement'] as tf.Tensor, blurClean), 0);
    blurClean.dispose();

    // Noise: y - A(x) has the requested spread (4 sigma band for 768 samples).
    const noisy = await measureSr.run({ image }, params(measureSr, { sigmaY: 0.1 }), ctx);
    const resid = tf.tidy(() => tf.sub(noisy['measurement'] as tf.Tensor4D, srOp.forward(image)));
    const std = Math.sqrt(tf.tidy(() => tf.mean(tf.square(resid)).dataSync()[0] as number));
    assert.ok(Math.abs(std / 0.1 - 1) < 4 / Math.sqrt(2 * 768), `noise std ${std}`);
    resid.dispose();

    // Naive reconstructions.
    const naive = await reconstructNaive.run({ operator: srOp }, params(reconstructNaive), ctx);
    const up = tf.tidy(() => tf.clipByValue(bicubicUpsample(srOp.y, 4), -1, 1));
    assert.equal(maxAbs(naive['image'] as tf.Tensor, up), 0);
    const adj = await reconstructNaive.run(
      { operator: srOp },
      params(reconstructNaive, { method: 'adjoint' }),
      ctx,
    );
    const adjExpected = tf.tidy(() => tf.clipByValue(srOp.adjoint(srOp.y), -1, 1));
    assert.equal(maxAbs(adj['image'] as tf.Tensor, adjExpected), 0);
    const blurNaive = await reconstructNaive.run({ operator: blurOp }, params(reconstructNaive), ctx);
    const blurExpected = tf.tidy(() => tf.clipByValue(blurOp.adjoint(blurOp.y), -1, 1));
    assert.equal(maxAbs(blurNaive['image'] as tf.Tensor, blurExpected), 0);
    tf.dispose([up, adjExpected, blurExpected]);
    [sr, blur, noisy, naive, adj, blurNaive].forEach(disposeOutputs);
    assert.equal(tf.memory().numTensors, before, 'measure / reconstruct nodes leaked tensors');
    image.dispose();
  });
}

test('measure.sr / measure.blur / reconstruct.naive reject bad inputs naming the node', async () => {
  await useBackend('cpu');
  const ctx = makeTestContext({ nodeId: 'down' });
  const image = testImage(30, 32, 3);
  assert.throws(
    () => measureSr.run({ image }, params(measureSr), ctx),
    /node 'down': image size 30x32 is not divisible by the SR factor 4/,
  );
  assert.throws(() => params(measureSr, { factor: 1 }), /invalid params/);
  assert.throws(
    () => measureBlur.run({ image }, params(measureBlur, { size: 8 }), ctx),
    /node 'down': blur size must be odd/,
  );
  assert.throws(
    () => measureBlur.run({ image: testImage(20, 20, 1) }, params(measureBlur), ctx),
    /node 'down': blur size 61 is too large for reflect padding of a 20x20 image/,
  );
  assert.throws(
    () => reconstructNaive.run({ operator: { kind: 'x' } }, params(reconstructNaive), ctx),
    /node 'down': input 'operator' is not a measurement operator/,
  );
  assert.throws(
    () => measureSr.run({ image: tf.zeros([1, 8, 8]) }, params(measureSr), ctx),
    /node 'down': input 'image' must be an N x H x W x \(1\|3\) image, got \[1, 8, 8\]/,
  );
  image.dispose();
});
