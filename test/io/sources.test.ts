/**
 * Resolving `path` parameters: single file, folder, glob, relative to a base directory, natural
 * order, unique keys, limits and one-line errors naming the pattern. The "images" here are garbage
 * bytes on purpose: enumeration must never open them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assignKeys, naturalCompare, resolveImageSources } from '../../src/io/sources.js';
import { ImageIOError } from '../../src/io/errors.js';

const root = await mkdtemp(join(tmpdir(), 'flow-sources-'));
for (const f of [
  'b10.png',
  'b2.png',
  'a.jpg',
  'c.webp',
  'd.JPEG',
  'notes.txt',
  '.hidden.png',
  'sub/a.png',
  'sub/z.PNG',
]) {
  await mkdir(join(root, f, '..'), { recursive: true });
  await writeFile(join(root, f), 'not really an image');
}
await mkdir(join(root, 'empty'), { recursive: true });
await writeFile(join(root, 'empty', 'readme.txt'), 'no images here');

const keysOf = async (pattern: string, opts = {}): Promise<string[]> =>
  (await resolveImageSources(pattern, { baseDir: root, ...opts })).map((s) => s.key);

test('naturalCompare orders digit runs numerically and is otherwise by code unit', () => {
  const sorted = ['img10.png', 'img2.png', 'img1.png', 'img02.png', 'a.png', 'B.png', 'img1b.png'].sort(
    naturalCompare,
  );
  assert.deepEqual(sorted, ['B.png', 'a.png', 'img1.png', 'img1b.png', 'img02.png', 'img2.png', 'img10.png']);
});

test('a folder lists its PNG/JPEG/WebP files (any case, no dotfiles, not recursive) in natural order', async () => {
  const sources = await resolveImageSources('.', { baseDir: root });
  assert.deepEqual(
    sources.map((s) => s.key),
    ['a', 'b2', 'b10', 'c', 'd'],
  );
  assert.deepEqual(
    sources.map((s) => s.path),
    ['a.jpg', 'b2.png', 'b10.png', 'c.webp', 'd.JPEG'].map((f) => join(root, f)),
  );
  assert.deepEqual(await keysOf('sub'), ['a', 'z']);
});

test('a single file, relative or absolute, is one item whatever its extension', async () => {
  assert.deepEqual(await resolveImageSources('c.webp', { baseDir: root }), [
    { key: 'c', path: join(root, 'c.webp') },
  ]);
  assert.deepEqual(await resolveImageSources(join(root, 'notes.txt')), [
    { key: 'notes', path: join(root, 'notes.txt') },
  ]);
});

test('globs: relative to the base dir, case-sensitive, recursive with **, parent-relative, limited', async () => {
  assert.deepEqual(await keysOf('*.png'), ['b2', 'b10']);
  assert.deepEqual(await keysOf('**/*.png'), ['b2', 'b10', 'a']);
  assert.deepEqual(await keysOf('*.{jpg,webp}'), ['a', 'c']);
  assert.deepEqual(await keysOf('../*.jpg', { baseDir: join(root, 'sub') }), ['a']);
  assert.deepEqual(await keysOf(join(root, 'b*.png'), { baseDir: '/nonexistent' }), ['b2', 'b10']);
  assert.deepEqual(await keysOf('*', { limit: 2 }), ['a', 'b2']);
  const s = await resolveImageSources('sub/*.png', { baseDir: root });
  assert.deepEqual(s, [{ key: 'a', path: join(root, 'sub', 'a.png') }]);
});

test('repeated stems get deterministic -2, -3 suffixes that never collide with real stems', async () => {
  assert.deepEqual(await keysOf('**/a.*'), ['a', 'a-2']);
  assert.deepEqual(assignKeys(['/x/a.png', '/x/a-2.png', '/y/a.png', '/z/a.jpg']), [
    'a',
    'a-2',
    'a-3',
    'a-4',
  ]);
  assert.deepEqual(assignKeys(['/x/a.png', '/y/a.png', '/y/a-2.png']), ['a', 'a-3', 'a-2']);
});

/** Errors are ImageIOErrors with a one-line message naming the pattern. */
async function assertSourceError(pattern: string, re: RegExp, opts = {}): Promise<void> {
  await assert.rejects(resolveImageSources(pattern, { baseDir: root, ...opts }), (e: unknown) => {
    assert.ok(e instanceof ImageIOError, String(e));
    assert.ok(!e.message.includes('\n'), e.message);
    assert.ok(e.message.includes(`'${pattern}'`), e.message);
    assert.match(e.message, re);
    return true;
  });
}

test('errors: missing path, empty folder, glob matching nothing or only non-images, bad limit', async () => {
  await assertSourceError('nope.png', /not found/);
  await assertSourceError('empty', /no images in folder/);
  await assertSourceError('*.gif', /matches no files/);
  await assertSourceError('empty/*', /matches 1 file\(s\) but none is a PNG, JPEG or WebP image/);
  await assertSourceError('*.png', /limit must be a positive integer/, { limit: 0 });
});

test('a brace group spanning folders is globbed whole', async () => {
  assert.deepEqual(await keysOf('{sub/a,b2}.png'), ['b2', 'a']);
});
