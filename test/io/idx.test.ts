/**
 * The IDX reader: byte layout checked against a hand-written header, every element type round-trips,
 * gzip is detected, malformed files fail with one line naming the file, and the shipped miniature
 * Fashion-MNIST IDX files hold exactly the pixels of the shipped PNGs (decoded independently by sharp).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { encodeIdx, parseIdx, readIdx, type IdxDtype } from '../../src/io/idx.js';

const repo = resolve(import.meta.dirname, '../..');

test('parseIdx reads a hand-written uint8 file: header fields, dims and C-order values', () => {
  // magic 00 00 08 02, dims 2 x 3 (big-endian), then 6 bytes.
  const bytes = Uint8Array.from([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 10, 11, 12, 20, 21, 255]);
  const a = parseIdx(bytes, 'hand.idx');
  assert.equal(a.dtype, 'uint8');
  assert.deepEqual(a.dims, [2, 3]);
  assert.deepEqual([...a.data], [10, 11, 12, 20, 21, 255]);
  assert.deepEqual(encodeIdx('uint8', [2, 3], [10, 11, 12, 20, 21, 255]), bytes);
});

test('every IDX element type round-trips through encodeIdx / parseIdx with big-endian values', () => {
  const cases: [IdxDtype, number[]][] = [
    ['uint8', [0, 1, 127, 128, 255, 7]],
    ['int8', [-128, -1, 0, 1, 127, 5]],
    ['int16', [-32768, -2, 0, 258, 32767, 9]],
    ['int32', [-2147483648, -70000, 0, 65536, 2147483647, 3]],
    ['float32', [Math.fround(0.1), -2.5, 0, Math.fround(1e30), Math.fround(-3.3e-5), 42]],
    ['float64', [0.1, -2.5, 0, 1e300, -3.3e-5, Math.PI]],
  ];
  for (const [dtype, values] of cases) {
    const bytes = encodeIdx(dtype, [3, 2], values);
    const a = parseIdx(bytes);
    assert.equal(a.dtype, dtype);
    assert.deepEqual(a.dims, [3, 2]);
    assert.deepEqual([...a.data], values, dtype);
  }
  // Byte order: int16 258 is 0x01 0x02 on disk.
  const b = encodeIdx('int16', [1], [258]);
  assert.deepEqual([...b.subarray(8)], [1, 2]);
});

test('readIdx inflates gzipped files and reads plain ones alike', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'idx-'));
  const values = Array.from({ length: 4 * 5 * 5 }, (_, i) => (i * 37) % 256);
  const raw = encodeIdx('uint8', [4, 5, 5], values);
  await writeFile(join(dir, 'plain.idx'), raw);
  await writeFile(join(dir, 'packed.idx.gz'), gzipSync(raw));
  for (const name of ['plain.idx', 'packed.idx.gz']) {
    const a = await readIdx(join(dir, name));
    assert.deepEqual(a.dims, [4, 5, 5]);
    assert.deepEqual([...a.data], values);
  }
});

test('malformed IDX data fails with one line naming the file', async () => {
  const good = encodeIdx('uint8', [2, 2], [1, 2, 3, 4]);
  const cases: [Uint8Array, RegExp][] = [
    [Uint8Array.from([0, 0]), /too short for a header/],
    [Uint8Array.from([1, 0, 8, 1, 0, 0, 0, 0]), /bad magic number/],
    [Uint8Array.from([0, 0, 0x42, 1, 0, 0, 0, 0]), /unknown element type 0x42/],
    [Uint8Array.from([0, 0, 8, 0]), /zero dimensions/],
    [Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 1]), /truncated header/],
    [good.subarray(0, good.length - 1), /need 16 bytes but the file holds 15/],
    [Uint8Array.from([...good, 9]), /need 16 bytes but the file holds 17/],
    [Uint8Array.from([0x1f, 0x8b, 8, 0, 1, 2, 3]), /corrupt gzip data/],
  ];
  for (const [bytes, re] of cases) {
    assert.throws(
      () => parseIdx(bytes, 'data/bad.idx'),
      (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.match(e.message, re);
        assert.match(e.message, /^IDX file 'data\/bad\.idx': /);
        assert.ok(!e.message.includes('\n'));
        return true;
      },
    );
  }
  await assert.rejects(
    readIdx('/nonexistent/x.idx'),
    /^IdxError: IDX file '\/nonexistent\/x\.idx': cannot read \(ENOENT/,
  );
});

test('the shipped miniature test split equals the shipped PNGs (sharp decode, 2-pixel border removed)', async () => {
  const images = await readIdx(join(repo, 'test/fixtures/fashion/t10k-images-idx3-ubyte.gz'));
  const labels = await readIdx(join(repo, 'test/fixtures/fashion/t10k-labels-idx1-ubyte.gz'));
  assert.deepEqual(images.dims, [16, 28, 28]);
  assert.deepEqual(labels.dims, [16]);
  const doc = JSON.parse(
    await (await import('node:fs/promises')).readFile(join(repo, 'assets/fashion/labels.json'), 'utf8'),
  ) as { labels: Record<string, number> };
  for (let i = 0; i < 16; i++) {
    const key = `test-${String(i).padStart(4, '0')}`;
    const { data, info } = await sharp(join(repo, 'assets/fashion', `${key}.png`))
      .raw()
      .toBuffer({ resolveWithObject: true });
    // sharp hands grayscale PNGs out as RGB with equal channels: read channel 0.
    assert.deepEqual([info.width, info.height], [32, 32]);
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        const border = y < 2 || y >= 30 || x < 2 || x >= 30;
        const expected = border ? 0 : (images.data[i * 784 + (y - 2) * 28 + (x - 2)] as number);
        assert.equal(data[(y * 32 + x) * info.channels], expected, `${key} (${x}, ${y})`);
      }
    }
    assert.equal(labels.data[i], doc.labels[key]);
  }
});
