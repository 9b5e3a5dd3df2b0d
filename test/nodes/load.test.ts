/**
 * The `load` source node: its params schema (defaults, rejections), cheap item enumeration with
 * sha256 digests over the shipped test photos, per-item reading that matches sharp's own decode
 * exactly, and errors. Runs reads on every test backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import load, { type LoadParams } from '../../src/nodes/load.js';
import type { ItemDescriptor } from '../../src/nodes/define.js';
import { createAjv } from '../../src/graph/ajv.js';
import { makeTestContext } from '../helpers/context.js';
import { TEST_BACKENDS, useBackend } from '../helpers/backends.js';

const repo = resolve(import.meta.dirname, '../..');
const validate = createAjv().compile(load.params);

function params(p: Record<string, unknown>): LoadParams {
  const copy = structuredClone(p);
  assert.ok(validate(copy), JSON.stringify(validate.errors));
  return copy as unknown as LoadParams;
}

async function items(p: LoadParams): Promise<ItemDescriptor[]> {
  const { item: _item, ...ctx } = makeTestContext();
  const out: ItemDescriptor[] = [];
  for await (const d of await (load.items as NonNullable<typeof load.items>)(p, ctx)) out.push(d);
  return out;
}

test('params: defaults applied (channels 3, fit cover); bad values rejected', () => {
  const p = params({ path: 'x.png' });
  assert.equal(p.channels, 3);
  assert.equal(p.fit, 'cover');
  for (const bad of [
    {},
    { path: '' },
    { path: 'x', channels: 2 },
    { path: 'x', size: 0 },
    { path: 'x', size: [64] },
    { path: 'x', size: 1.5 },
    { path: 'x', fit: 'crop' },
    { path: 'x', limit: 0 },
    { path: 'x', extra: true },
  ]) {
    assert.equal(validate(structuredClone(bad)), false, JSON.stringify(bad));
  }
  assert.ok(validate({ path: 'x', size: [32, 48] }));
});

test('items: the shipped 64x64 folder in natural order with sha256 digests of the file bytes', async () => {
  const list = await items(params({ path: 'assets/images/64', baseDir: repo }));
  assert.deepEqual(
    list.map((d) => d.key),
    ['astronaut', 'camera', 'chelsea', 'coffee'],
  );
  for (const d of list) {
    const path = resolve(repo, 'assets/images/64', `${d.key}.png`);
    assert.equal(d.meta?.path, path);
    assert.equal(d.meta?.file, `${d.key}.png`);
    assert.equal(
      d.digest,
      createHash('sha256')
        .update(await readFile(path))
        .digest('hex'),
    );
  }
  const globbed = await items(
    params({ path: 'images/*/c*.png', baseDir: resolve(repo, 'assets'), limit: 3 }),
  );
  // Natural order on paths relative to the glob root: '256/...' sorts after '64/...'.
  assert.deepEqual(
    globbed.map((d) => [d.key, String(d.meta?.path).slice(repo.length)]),
    [
      ['camera', '/assets/images/64/camera.png'],
      ['chelsea', '/assets/images/64/chelsea.png'],
      ['coffee', '/assets/images/64/coffee.png'],
    ],
  );
});

test('items: a pattern matching nothing fails with a one-line error naming it', async () => {
  await assert.rejects(items(params({ path: 'assets/images/*.gif', baseDir: repo })), (e: unknown) => {
    assert.ok(e instanceof Error);
    assert.match(e.message, /^image pattern 'assets\/images\/\*\.gif' matches no files/);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
});

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] run reads ctx.item's file: values equal sharp's decode / 127.5 - 1 exactly`, async () => {
    await useBackend(backend);
    const start = tf.memory().numTensors;
    const p = params({ path: 'assets/images/64', baseDir: repo });
    const [first] = await items(p);
    assert.ok(first);
    const ctx = makeTestContext({ item: { key: first.key, index: 0, meta: first.meta ?? {} } });
    const { image } = (await load.run({}, p, ctx)) as { image: tf.Tensor4D };
    assert.deepEqual(image.shape, [1, 64, 64, 3]);
    const reference = await sharp(String(first.meta?.path)).raw().toBuffer();
    const got = await image.data();
    reference.forEach((v, i) => assert.equal(got[i], Math.fround(v / 127.5 - 1)));
    image.dispose();

    const small = params({
      path: 'assets/images/256/camera.png',
      baseDir: repo,
      size: [32, 16],
      channels: 1,
    });
    const out = (await load.run({}, small, makeTestContext({ item: undefined }))) as { image: tf.Tensor4D };
    assert.deepEqual(out.image.shape, [1, 32, 16, 1]);
    out.image.dispose();
    assert.equal(tf.memory().numTensors, start);
  });
}

test("relative paths resolve against ctx.baseDir (the pipeline file's folder) unless params.baseDir is set", async () => {
  const { item: _item, ...ctx } = makeTestContext({ baseDir: resolve(repo, 'assets/images') });
  const keys = async (p: LoadParams): Promise<string[]> => {
    const out: string[] = [];
    for await (const d of await (load.items as NonNullable<typeof load.items>)(p, ctx)) out.push(d.key);
    return out;
  };
  assert.deepEqual(await keys(params({ path: '64/c*.png' })), ['camera', 'chelsea', 'coffee']);
  assert.deepEqual(await keys(params({ path: 'images/64/a*.png', baseDir: resolve(repo, 'assets') })), [
    'astronaut',
  ]);
});

test('run without an item needs a path naming exactly one image', async () => {
  const ctx = makeTestContext();
  const noItem = { ...ctx, item: undefined };
  await assert.rejects(
    Promise.resolve(load.run({}, params({ path: 'assets/images/64', baseDir: repo }), noItem)),
    /names 4 images; run it once per item/,
  );
  await assert.rejects(
    Promise.resolve(load.run({}, params({ path: 'missing.png', baseDir: repo }), noItem)),
    /image path 'missing.png' not found/,
  );
});
