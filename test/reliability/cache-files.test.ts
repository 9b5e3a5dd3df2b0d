/**
 * The stage cache touches only its own files: `flow cache clear` removes entries (recognised by
 * name and format), never the folder or anything else in it; temporary files of killed runs are
 * cleaned by name and age.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdir, readFile, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { loadPlan } from '../../src/graph/plan.js';
import { runPlan } from '../../src/runtime/execute.js';
import { StageCache } from '../../src/runtime/cache.js';
import { initBackend } from '../../src/runtime/backend.js';
import { pipeline, writeFiles } from '../engine/helpers.js';
import { flow } from '../cli/run-flow.js';

await initBackend('wasm');

const P = pipeline(`  src:
    type: test.count
  total:
    type: test.total
    inputs: { x: src.value }
`);

async function filledCache(): Promise<{ dir: string; cache: string }> {
  const dir = await writeFiles({ 'p.yaml': P });
  const cache = path.join(dir, 'cache');
  await runPlan(await loadPlan(path.join(dir, 'p.yaml')), { cache: new StageCache({ dir: cache }) }).result;
  assert.ok((await new StageCache({ dir: cache }).list()).length >= 6);
  const shard = (await readdir(cache))[0] as string;
  await writeFile(path.join(cache, 'notes.txt'), 'mine');
  await mkdir(path.join(cache, 'thesis'));
  await writeFile(path.join(cache, 'thesis/chapter.tex'), 'mine');
  await writeFile(path.join(cache, shard, 'readme.entry.bak'), 'mine');
  await writeFile(path.join(cache, shard, `${'0'.repeat(64)}.entry`), 'not a cache entry at all');
  return { dir, cache };
}

test('flow cache clear removes cache entries only, never the folder or foreign files', async () => {
  const { dir, cache } = await filledCache();
  const r = await flow(['cache', 'clear', '--cache-dir', cache], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^removed \d+ entries from /);
  assert.ok((await stat(cache)).isDirectory(), 'the folder itself stays');
  assert.equal(await readFile(path.join(cache, 'notes.txt'), 'utf8'), 'mine');
  assert.equal(await readFile(path.join(cache, 'thesis/chapter.tex'), 'utf8'), 'mine');
  const left = (await readdir(cache, { recursive: true })).sort();
  assert.ok(left.some((f) => f.endsWith('readme.entry.bak')));
  assert.ok(
    left.some((f) => f.endsWith(`${'0'.repeat(64)}.entry`)),
    'a file that is not in the entry format stays',
  );
  assert.equal((await new StageCache({ dir: cache }).list()).filter((e) => e.ok).length, 0);
});

test('temporary entry files of killed runs are removed by name and age; fresh ones are left', async () => {
  const { cache } = await filledCache();
  const shard = path.join(cache, (await readdir(cache)).find((f) => /^[0-9a-f]{2}$/.test(f)) as string);
  const key = 'ab'.repeat(32);
  const stale = path.join(shard, `${key}.entry.tmp-999999999-0a0b0c0d`);
  const fresh = path.join(shard, `${key}.entry.tmp-${process.pid}-0a0b0c0e`);
  await writeFile(stale, 'half');
  await writeFile(fresh, 'half');
  const old = new Date(Date.now() - 2 * 86400_000);
  await utimes(stale, old, old);
  await new StageCache({ dir: cache }).removeStaleTemporaries();
  await assert.rejects(stat(stale), /ENOENT/);
  assert.ok((await stat(fresh)).isFile());
  assert.equal(await readFile(path.join(cache, 'notes.txt'), 'utf8'), 'mine');
});
