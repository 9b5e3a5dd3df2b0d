/**
 * Fashion-MNIST as a source: selection parsing with Python's slice rules (expected index lists
 * produced by CPython's `list(range(16))[start:stop:step]`), the padding preprocessing, and the
 * `load` node over the shipped miniature IDX dataset (FASHION_MNIST_DIR=test/fixtures/fashion):
 * keys, labels, digests (sha256 of the 784 bytes + label, recomputed here from the shipped PNGs)
 * and pixels identical to loading the shipped preprocessed PNGs, on every test backend. The real
 * dataset is checked only where Debian's package is installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import load, { type LoadParams } from '../../src/nodes/load.js';
import type { ItemDescriptor } from '../../src/nodes/define.js';
import { createAjv } from '../../src/graph/ajv.js';
import { loadPlan } from '../../src/graph/plan.js';
import { runPlan } from '../../src/runtime/execute.js';
import { StageCache } from '../../src/runtime/cache.js';
import {
  FASHION_CLASSES,
  fashionItems,
  fashionToModelSpace,
  parseFashionSelection,
  selectionIndices,
} from '../../src/io/fashion-mnist.js';
import { makeTestContext } from '../helpers/context.js';
import { TEST_BACKENDS, useBackend } from '../helpers/backends.js';

const repo = resolve(import.meta.dirname, '../..');
const mini = join(repo, 'test/fixtures/fashion');
const realDir = '/usr/share/datasets/fashion-mnist';
const hasReal = existsSync(join(realDir, 't10k-images-idx3-ubyte.gz'));
process.env.FASHION_MNIST_DIR = mini;
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

/** The 28x28 bytes of a shipped PNG (its 2-pixel border removed), decoded by sharp. */
async function shippedRaw(i: number): Promise<Uint8Array> {
  const { data, info } = await sharp(join(repo, 'assets/fashion', `test-${String(i).padStart(4, '0')}.png`))
    .raw()
    .toBuffer({ resolveWithObject: true });
  const out = new Uint8Array(784);
  for (let y = 0; y < 28; y++)
    for (let x = 0; x < 28; x++) out[y * 28 + x] = data[((y + 2) * 32 + x + 2) * info.channels] as number;
  return out;
}

const shippedLabels = (
  JSON.parse(await readFile(join(repo, 'assets/fashion/labels.json'), 'utf8')) as {
    labels: Record<string, number>;
  }
).labels;

test('selections follow CPython slice semantics (reference lists from list(range(16))[s])', () => {
  const cases: [string, number[]][] = [
    ['', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]],
    ['[:]', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]],
    ['[0:5]', [0, 1, 2, 3, 4]],
    ['[3:]', [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]],
    ['[:4]', [0, 1, 2, 3]],
    ['[-3:]', [13, 14, 15]],
    ['[:-12]', [0, 1, 2, 3]],
    ['[0:16:5]', [0, 5, 10, 15]],
    ['[1:100:3]', [1, 4, 7, 10, 13]],
    ['[::-1]', [15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]],
    ['[10:2:-3]', [10, 7, 4]],
    ['[-1:-20:-4]', [15, 11, 7, 3]],
    ['[20:30]', []],
    ['[-100:2]', [0, 1]],
    ['[5:5]', []],
    ['[::7]', [0, 7, 14]],
    ['[5]', [5]],
    ['[-1]', [15]],
    ['[ 2 : 6 ]', [2, 3, 4, 5]],
  ];
  for (const [sel, expected] of cases) {
    const spec = `fashion-mnist:test${sel}`;
    assert.deepEqual(selectionIndices(parseFashionSelection(spec), 16, spec), expected, spec);
  }
  assert.deepEqual(parseFashionSelection('fashion-mnist:train[5]'), { split: 'train', index: 5 });
  for (const [bad, re] of [
    ['fashion-mnist:valid[0:3]', /expected fashion-mnist:<train\|test>/],
    ['fashion-mnist:test[0:3', /expected fashion-mnist:<train\|test>/],
    ['fashion-mnist:test[a:3]', /'a' is not an integer/],
    ['fashion-mnist:test[0:3:0]', /slice step cannot be zero/],
    ['fashion-mnist:test[1:2:3:4]', /at most start:stop:step/],
    ['fashion-mnist:test[]', /empty index/],
  ] as const) {
    assert.throws(() => parseFashionSelection(bad), re, bad);
  }
  for (const i of [16, -17]) {
    const spec = `fashion-mnist:test[${i}]`;
    assert.throws(
      () => selectionIndices(parseFashionSelection(spec), 16, spec),
      /out of range for the 16 test images/,
    );
  }
});

test('preprocessing: 2 pixels of background (-1) around the 28x28 image, p / 127.5 - 1 inside', () => {
  const raw = Uint8Array.from({ length: 784 }, (_, i) => (i * 7 + 3) % 256);
  const out = fashionToModelSpace(raw);
  assert.equal(out.length, 32 * 32);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
      const expected = inside ? Math.fround((raw[(y - 2) * 28 + x - 2] as number) / 127.5 - 1) : -1;
      assert.equal(out[y * 32 + x], expected, `(${x}, ${y})`);
    }
  }
  assert.throws(() => fashionToModelSpace(new Uint8Array(783)), /784 bytes, got 783/);
});

test('load items of fashion-mnist:test[0:16:5]: keys, labels, class names and sha256(bytes + label) digests', async () => {
  const list = await items(params({ path: 'fashion-mnist:test[0:16:5]' }));
  assert.deepEqual(
    list.map((d) => d.key),
    ['test-00000', 'test-00005', 'test-00010', 'test-00015'],
  );
  for (const d of list) {
    const index = Number(d.key.slice(5));
    const label = shippedLabels[`test-${String(index).padStart(4, '0')}`] as number;
    assert.deepEqual(d.meta, { label, className: FASHION_CLASSES[label], index, split: 'test' });
    const raw = await shippedRaw(index);
    assert.equal(d.digest, createHash('sha256').update(raw).update(Uint8Array.of(label)).digest('hex'));
  }
  const limited = await items(params({ path: 'fashion-mnist:train', limit: 3 }));
  assert.deepEqual(
    limited.map((d) => d.key),
    ['train-00000', 'train-00001', 'train-00002'],
  );
});

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] load run: the IDX source and the shipped PNG folder give identical 1x32x32x1 images and labels`, async () => {
    await useBackend(backend);
    const start = tf.memory().numTensors;
    const fromIdx = params({ path: 'fashion-mnist:test[0:16]' });
    const fromPng = params({ path: 'assets/fashion', baseDir: repo, channels: 1 });
    const idxItems = await items(fromIdx);
    const pngItems = await items(fromPng);
    assert.equal(idxItems.length, 16);
    assert.deepEqual(
      pngItems.map((d) => [d.key, d.meta?.label, d.meta?.className]),
      idxItems.map((d) => [`test-${d.key.slice(6)}`, d.meta?.label, d.meta?.className]),
    );
    for (let i = 0; i < 16; i += 5) {
      const a = idxItems[i] as ItemDescriptor;
      const b = pngItems[i] as ItemDescriptor;
      const outA = (await load.run(
        {},
        fromIdx,
        makeTestContext({ item: { key: a.key, index: i, meta: a.meta ?? {} } }),
      )) as {
        image: tf.Tensor4D;
        label: number[];
      };
      const outB = (await load.run(
        {},
        fromPng,
        makeTestContext({ item: { key: b.key, index: i, meta: b.meta ?? {} } }),
      )) as {
        image: tf.Tensor4D;
        label: number[];
      };
      assert.deepEqual(outA.image.shape, [1, 32, 32, 1]);
      assert.deepEqual(outB.image.shape, [1, 32, 32, 1]);
      const expected = fashionToModelSpace(await shippedRaw(i));
      assert.deepEqual(await outA.image.data(), expected);
      assert.deepEqual(await outB.image.data(), expected);
      assert.deepEqual(outA.label, [a.meta?.label]);
      assert.deepEqual(outB.label, [a.meta?.label]);
      outA.image.dispose();
      outB.image.dispose();
    }
    // Without an item, a selection of exactly one image is read directly.
    const single = (await load.run({}, params({ path: 'fashion-mnist:train[-1]' }), {
      ...makeTestContext(),
      item: undefined,
    })) as { image: tf.Tensor4D; label: number[] };
    assert.deepEqual(single.image.shape, [1, 32, 32, 1]);
    assert.equal(single.label.length, 1);
    single.image.dispose();
    assert.equal(tf.memory().numTensors, start);
  });
}

test('files without a labels.json have an empty label; the file digest stays the plain sha256', async () => {
  const p = params({ path: 'assets/images/64/camera.png', baseDir: repo });
  const [d] = await items(p);
  assert.equal(d?.meta?.label, undefined);
  const bytes = await readFile(join(repo, 'assets/images/64/camera.png'));
  assert.equal(d?.digest, createHash('sha256').update(bytes).digest('hex'));
  const out = (await load.run({}, p, { ...makeTestContext(), item: undefined })) as {
    image: tf.Tensor4D;
    label: number[];
  };
  assert.deepEqual(out.label, []);
  out.image.dispose();
});

test('errors: missing dataset names scripts/setup-system.sh in one line; multi-image run and bad size refused', async () => {
  process.env.FASHION_MNIST_DIR = '/nonexistent/fashion';
  try {
    await assert.rejects(fashionItems('fashion-mnist:test[0:3]'), (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.match(
        e.message,
        /Fashion-MNIST not found \(\/nonexistent\/fashion\/t10k-images-idx3-ubyte\.gz\)/,
      );
      assert.match(e.message, /run scripts\/setup-system\.sh/);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  } finally {
    process.env.FASHION_MNIST_DIR = mini;
  }
  const noItem = { ...makeTestContext(), item: undefined };
  await assert.rejects(
    Promise.resolve(load.run({}, params({ path: 'fashion-mnist:test[0:3]' }), noItem)),
    /names 3 images; run it once per item/,
  );
  await assert.rejects(
    items(params({ path: 'fashion-mnist:test[0:3]', size: 28 })),
    /size 28 is not supported/,
  );
});

test(
  'the real dataset (where installed): 60,000 / 10,000 images, and its first 16 test images are the shipped ones',
  { skip: !hasReal && 'Debian dataset-fashion-mnist not installed' },
  async () => {
    const real = await fashionItems('fashion-mnist:test[0:16]', realDir);
    const shipped = await fashionItems('fashion-mnist:test[0:16]', mini);
    assert.deepEqual(real, shipped);
    assert.equal((await fashionItems('fashion-mnist:train[::1000]', realDir)).length, 60);
    const last = await fashionItems('fashion-mnist:test[-1]', realDir);
    assert.equal(last[0]?.key, 'test-09999');
    const counts = new Array<number>(10).fill(0);
    for (const it of await fashionItems('fashion-mnist:test', realDir))
      counts[it.label] = (counts[it.label] as number) + 1;
    assert.deepEqual(counts, new Array<number>(10).fill(1000));
  },
);

test('a pipeline streams fashion-mnist:test[0:4] items; labels survive the stage cache on a re-run', async () => {
  await useBackend('wasm');
  const dir = await mkdtemp(join(tmpdir(), 'fashion-pipe-'));
  await writeFile(
    join(dir, 'p.yaml'),
    'version: 1\nname: fashion\nnodes:\n  src:\n    type: load\n    params: { path: "fashion-mnist:test[0:4]" }\n',
  );
  const plan = await loadPlan(join(dir, 'p.yaml'));
  const cache = new StageCache();
  const expected = [0, 1, 2, 3].map((i) => shippedLabels[`test-000${i}`] as number);
  for (let run = 0; run < 2; run++) {
    const { outputs } = await runPlan(plan, { cache, keep: ['src.image', 'src.label'] }).result;
    const labels = outputs['src.label'] as Map<string, number[]>;
    assert.deepEqual([...labels.keys()], ['test-00000', 'test-00001', 'test-00002', 'test-00003']);
    assert.deepEqual(
      [...labels.values()].map((l) => l[0]),
      expected,
      `run ${run}`,
    );
    const images = [...(outputs['src.image'] as Map<string, tf.Tensor4D>).values()];
    assert.deepEqual(await (images[2] as tf.Tensor4D).data(), fashionToModelSpace(await shippedRaw(2)));
    tf.dispose(images);
  }
});
