/**
 * Image reading and PNG writing: exact pixel mapping p -> p / 127.5 - 1 on synthetic images built
 * from raw buffers, resize/crop geometry against closed forms, grayscale/RGB/alpha handling, error
 * messages, and PNG round trips. Tensor-producing paths run on every test backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import {
  decodeImageBytes,
  decodeImagePixels,
  fileDigest,
  imageToPng,
  readImage,
  sniffImageFormat,
} from '../../src/io/image.js';
import { ImageIOError } from '../../src/io/errors.js';
import { Rng } from '../../src/util/random.js';
import { TEST_BACKENDS, useBackend } from '../helpers/backends.js';

const LEVEL = 1 / 127.5; // one 8-bit step in [-1, 1]

/** The reference mapping, in float64 then rounded to float32 as a Float32Array stores it. */
const ref = (p: number): number => Math.fround(p / 127.5 - 1);

async function rawPng(data: Uint8Array | Uint16Array, width: number, height: number, channels: 1 | 3 | 4) {
  const space =
    data instanceof Uint16Array ? (channels === 1 ? 'grey16' : 'rgb16') : channels === 1 ? 'b-w' : 'srgb';
  return sharp(data, { raw: { width, height, channels } }).toColourspace(space).png().toBuffer();
}

/** A deterministic 8-bit pattern hitting all 256 levels in every channel. */
function pattern(width: number, height: number, channels: number): Uint8Array {
  const out = new Uint8Array(width * height * channels);
  for (let i = 0; i < out.length; i++) out[i] = (i * 97 + Math.floor(i / channels) * 13) % 256;
  return out;
}

const tmp = await mkdtemp(join(tmpdir(), 'flow-image-'));

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] RGB PNG pixels map exactly to p / 127.5 - 1`, async () => {
    await useBackend(backend);
    const [w, h] = [16, 16];
    const raw = pattern(w, h, 3);
    const file = join(tmp, `rgb-${backend}.png`);
    await writeFile(file, await rawPng(raw, w, h, 3));
    const start = tf.memory().numTensors;
    const t = await readImage(file, { channels: 3 });
    assert.deepEqual(t.shape, [1, h, w, 3]);
    assert.equal(t.dtype, 'float32');
    const got = await t.data();
    for (let i = 0; i < raw.length; i++) assert.equal(got[i], ref(raw[i] as number), `sample ${i}`);
    t.dispose();
    assert.equal(tf.memory().numTensors, start);
  });

  test(`[${backend}] all 256 gray levels: exact as 1 channel, replicated exactly as 3`, async () => {
    await useBackend(backend);
    const levels = Uint8Array.from({ length: 256 }, (_, i) => i);
    const png = await rawPng(levels, 16, 16, 1);
    const one = await decodeImageBytes(png, { channels: 1 });
    const three = await decodeImageBytes(png, { channels: 3 });
    assert.deepEqual(one.shape, [1, 16, 16, 1]);
    assert.deepEqual(three.shape, [1, 16, 16, 3]);
    const a = await one.data();
    const b = await three.data();
    for (let i = 0; i < 256; i++) {
      assert.equal(a[i], ref(i));
      for (let c = 0; c < 3; c++) assert.equal(b[3 * i + c], ref(i));
    }
    tf.dispose([one, three]);
  });
}

test('RGB read as 1 channel is BT.601 luma of the stored values (float64 reference, tol 1e-6)', async () => {
  const raw = pattern(8, 8, 3);
  const img = await decodeImagePixels(await rawPng(raw, 8, 8, 3), { channels: 1 });
  assert.equal(img.channels, 1);
  for (let i = 0; i < 64; i++) {
    const [r, g, b] = [raw[3 * i], raw[3 * i + 1], raw[3 * i + 2]] as number[];
    const y = (0.299 * (r as number) + 0.587 * (g as number) + 0.114 * (b as number)) / 127.5 - 1;
    assert.ok(Math.abs((img.data[i] as number) - y) < 1e-6, `pixel ${i}: ${img.data[i]} vs ${y}`);
  }
});

test('16-bit PNGs map exactly to p / 32767.5 - 1', async () => {
  const raw = Uint16Array.from({ length: 8 * 4 * 3 }, (_, i) => (i * 7919) % 65536);
  const img = await decodeImagePixels(await rawPng(raw, 8, 4, 3), { channels: 3 });
  raw.forEach((p, i) => assert.equal(img.data[i], Math.fround(p / 32767.5 - 1)));
  const gray = Uint16Array.from({ length: 16 }, (_, i) => i * 4099);
  const g = await decodeImagePixels(await rawPng(gray, 4, 4, 1), { channels: 1 });
  gray.forEach((p, i) => assert.equal(g.data[i], Math.fround(p / 32767.5 - 1)));
});

test('alpha is composited onto white and dropped', async () => {
  // Pixels: opaque red, transparent black, half-transparent black (alpha 128 of 255).
  const rgba = Uint8Array.from([255, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 128]);
  const img = await decodeImagePixels(await rawPng(rgba, 3, 1, 4), { channels: 3 });
  assert.equal(img.channels, 3);
  assert.deepEqual(Array.from(img.data.subarray(0, 6)), [1, -1, -1, 1, 1, 1]);
  // Black at alpha a over white: 255 * (1 - a/255) = 127 for a = 128; allow one level of rounding.
  for (const v of img.data.subarray(6, 9)) assert.ok(Math.abs(v - ref(127)) <= LEVEL + 1e-6, `${v}`);
});

test('crop-only resize (scale 1) is an exact centre crop, for wide and tall images', async () => {
  const wide = pattern(10, 6, 3); // 10 wide, 6 high -> 6x6 keeps columns 2..7
  const a = await decodeImagePixels(await rawPng(wide, 10, 6, 3), { channels: 3, size: 6 });
  assert.deepEqual([a.height, a.width], [6, 6]);
  for (let y = 0; y < 6; y++)
    for (let x = 0; x < 6; x++)
      for (let c = 0; c < 3; c++)
        assert.equal(a.data[(y * 6 + x) * 3 + c], ref(wide[(y * 10 + x + 2) * 3 + c] as number));

  const tall = pattern(4, 9, 1); // 4 wide, 9 high -> [h, w] = [5, 4] keeps rows 2..6
  const b = await decodeImagePixels(await rawPng(tall, 4, 9, 1), { channels: 1, size: [5, 4] });
  assert.deepEqual([b.height, b.width], [5, 4]);
  for (let y = 0; y < 5; y++)
    for (let x = 0; x < 4; x++) assert.equal(b.data[y * 4 + x], ref(tall[(y + 2) * 4 + x] as number));
});

test("'cover' downscale: shorter side matched, centre crop (half-black/half-white 64x32 -> 16x16)", async () => {
  const [w, h] = [64, 32];
  const raw = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) raw.fill(255, y * w + 32, y * w + 64); // right half white
  const img = await decodeImagePixels(await rawPng(raw, w, h, 1), { channels: 1, size: 16 });
  assert.deepEqual([img.height, img.width], [16, 16]);
  // Scale 1/2 gives 32x16; the centre crop keeps source columns 16..47, so the edge lands at column 8.
  // Lanczos rings within ~2 output pixels of the edge; away from it the halves are flat.
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 6; x++) assert.ok((img.data[y * 16 + x] as number) < -1 + 2 * LEVEL, `(${y},${x})`);
    for (let x = 10; x < 16; x++) assert.ok((img.data[y * 16 + x] as number) > 1 - 2 * LEVEL, `(${y},${x})`);
  }
});

test('downscaling a linear ramp by 2 samples the ramp at the new pixel centres (within 1 level)', async () => {
  // Source column x holds 2x + 40; output column j covers source [2j, 2j + 2), centre 2j + 0.5.
  const [w, h] = [64, 8];
  const raw = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw[y * w + x] = 2 * x + 40;
  const img = await decodeImagePixels(await rawPng(raw, w, h, 1), { channels: 1, size: [4, 32] });
  for (let y = 0; y < 4; y++) {
    for (let j = 3; j < 29; j++) {
      const expected = (2 * (2 * j + 0.5) + 40) / 127.5 - 1;
      const got = img.data[y * 32 + j] as number;
      assert.ok(Math.abs(got - expected) <= LEVEL + 1e-6, `col ${j}: ${got} vs ${expected}`);
    }
  }
});

test("'contain' pads with white, 'fill' stretches to the exact size", async () => {
  const [w, h] = [64, 32];
  const raw = new Uint8Array(w * h).fill(100);
  const png = await rawPng(raw, w, h, 1);
  const c = await decodeImagePixels(png, { channels: 1, size: 16, fit: 'contain' });
  assert.deepEqual([c.height, c.width], [16, 16]);
  // 64x32 fits as 16x8, centred: rows 0..3 and 12..15 are padding.
  for (let x = 0; x < 16; x++) {
    for (const y of [0, 1, 2, 15]) assert.equal(c.data[y * 16 + x], 1);
    for (const y of [5, 6, 7, 8, 9, 10])
      assert.ok(Math.abs((c.data[y * 16 + x] as number) - ref(100)) <= LEVEL);
  }
  const f = await decodeImagePixels(png, { channels: 1, size: [8, 20], fit: 'fill' });
  assert.deepEqual([f.height, f.width], [8, 20]);
  for (const v of f.data) assert.ok(Math.abs(v - ref(100)) <= LEVEL);
});

test('lossless WebP decodes exactly; JPEG (quality 100) of a flat colour within 2 levels', async () => {
  const raw = pattern(8, 8, 3);
  const webp = await sharp(raw, { raw: { width: 8, height: 8, channels: 3 } })
    .webp({ lossless: true })
    .toBuffer();
  assert.equal(sniffImageFormat(webp), 'webp');
  const a = await decodeImagePixels(webp, { channels: 3 });
  raw.forEach((p, i) => assert.equal(a.data[i], ref(p)));

  const flat = new Uint8Array(8 * 8 * 3);
  for (let i = 0; i < 64; i++) flat.set([200, 80, 30], 3 * i);
  const jpeg = await sharp(flat, { raw: { width: 8, height: 8, channels: 3 } })
    .jpeg({ quality: 100 })
    .toBuffer();
  assert.equal(sniffImageFormat(jpeg), 'jpeg');
  const b = await decodeImagePixels(jpeg, { channels: 3 });
  flat.forEach((p, i) =>
    assert.ok(Math.abs((b.data[i] as number) - ref(p)) <= 2 * LEVEL + 1e-6, `sample ${i}`),
  );
});

test('the shipped test photos decode at their stated sizes', async () => {
  const a = await decodeImagePixels(await readFile('assets/images/256/astronaut.png'), {
    channels: 3,
    size: 64,
  });
  assert.deepEqual([a.height, a.width, a.channels], [64, 64, 3]);
  for (const v of a.data) assert.ok(v >= -1 && v <= 1);
});

/** Every error must be an ImageIOError whose message is one line and names the path. */
async function assertImageError(file: string, pattern: RegExp): Promise<void> {
  await assert.rejects(readImage(file, { channels: 3 }), (e: unknown) => {
    assert.ok(e instanceof ImageIOError, `not an ImageIOError: ${String(e)}`);
    assert.ok(!e.message.includes('\n'), `multi-line message: ${e.message}`);
    assert.ok(e.message.includes(`'${file}'`), `path missing from: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('errors: missing, truncated, not an image, empty, unsupported format, folder', async () => {
  const good = await rawPng(pattern(32, 32, 3), 32, 32, 3);
  await writeFile(join(tmp, 'truncated.png'), good.subarray(0, Math.floor(good.length / 2)));
  await writeFile(join(tmp, 'text.png'), 'this is not an image\n');
  await writeFile(join(tmp, 'empty.png'), new Uint8Array(0));
  const gif = await sharp(pattern(4, 4, 3), { raw: { width: 4, height: 4, channels: 3 } })
    .gif()
    .toBuffer();
  await writeFile(join(tmp, 'anim.png'), gif); // a GIF under a .png name: the content decides
  await mkdir(join(tmp, 'folder.png'), { recursive: true });

  await assertImageError(join(tmp, 'missing.png'), /file not found/);
  await assertImageError(join(tmp, 'truncated.png'), /corrupt or truncated PNG/);
  await assertImageError(join(tmp, 'text.png'), /not a PNG, JPEG or WebP image/);
  await assertImageError(join(tmp, 'empty.png'), /empty/);
  await assertImageError(join(tmp, 'anim.png'), /unsupported image format GIF/);
  await assertImageError(join(tmp, 'folder.png'), /is a folder/);
});

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] PNG round trip is exact for 8-bit values; clipping and rounding as documented`, async () => {
    await useBackend(backend);
    const rng = new Rng(7);
    const [h, w] = [12, 10];
    const levels = Array.from({ length: h * w * 3 }, () => Math.floor(rng.uniform() * 256));
    const start = tf.memory().numTensors;
    const t = tf.tensor3d(levels.map(ref), [h, w, 3]);
    const png = await imageToPng(t);
    const back = await decodeImageBytes(png, { channels: 3 });
    assert.deepEqual(Array.from(await back.data()), levels.map(ref));

    // Values 0.4 level off still round to the same level; out-of-range values clip.
    const nudged = tf.tensor4d(
      levels.map((p, i) => ref(p) + (i % 2 ? 0.4 : -0.4) * LEVEL),
      [1, h, w, 3],
    );
    const png2 = await imageToPng(nudged);
    const raw2 = await sharp(png2).raw().toBuffer();
    assert.deepEqual(Array.from(raw2), levels);
    const clipped = tf.tensor4d([-3, 5, Number.NaN, 0], [1, 1, 4, 1]);
    const png3 = await imageToPng(clipped);
    const meta = await sharp(png3).metadata();
    assert.equal(meta.channels, 1, 'grayscale tensors become 1-channel PNGs');
    const raw3 = await sharp(png3).toColourspace('b-w').raw().toBuffer();
    assert.deepEqual(Array.from(raw3), [0, 255, 0, 128]);

    const batch = tf.zeros([2, 4, 4, 3]) as tf.Tensor4D;
    await assert.rejects(imageToPng(batch), /batch of 2/);
    tf.dispose([t, back, nudged, clipped, batch]);
    assert.equal(tf.memory().numTensors, start);
  });
}

test('fileDigest is sha256 of the bytes (FIPS 180-2 test vector "abc")', async () => {
  const file = join(tmp, 'abc.bin');
  await writeFile(file, 'abc');
  assert.equal(await fileDigest(file), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});
