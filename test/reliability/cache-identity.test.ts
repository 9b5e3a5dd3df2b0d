/**
 * Stale results: the code that computes a node keys its cache entries (its module and everything
 * it imports relatively), entries keep their key material, `flow cache explain` says what changed,
 * and the disk cache is pruned least-recently-used first to a size cap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { StageCache } from '../../src/runtime/cache.js';
import { loadPlan } from '../../src/graph/plan.js';
import { runPlan } from '../../src/runtime/execute.js';
import { initBackend } from '../../src/runtime/backend.js';
import { PLUGIN, tempDir } from '../engine/helpers.js';
import { flow } from '../cli/run-flow.js';

await initBackend('wasm');

const NODE = `import * as tf from '${import.meta.resolve('@tensorflow/tfjs')}';
import { defineNode } from '${path.resolve(PLUGIN, '../../../../src/nodes/define.ts')}';
import { gain } from './helper.ts';
export default defineNode({
  type: 'test.gain', version: 1, category: 'test', description: 'x * gain()',
  inputs: { x: { type: 'image' } }, outputs: { y: { type: 'image' } },
  params: { type: 'object', properties: { offset: { type: 'number', default: 0 } } },
  run: (inputs, p: { offset: number }) => ({ y: tf.add(tf.mul(inputs.x as tf.Tensor, gain()), p.offset) }),
});
`;

const PIPE = `version: 1
name: t
params: { seed: 1 }
plugins: [${PLUGIN}, ./gain.ts]
nodes:
  src: { type: test.count, params: { n: 2 } }
  g: { type: test.gain, inputs: { x: src.value } }
  total: { type: test.total, inputs: { x: g.y } }
  save: { type: test.write, inputs: { x: total.total } }
`;

/** One run in a fresh process (a module once imported stays as it was in a process). */
async function value(dir: string, overrides: string[] = []): Promise<{ v: number; hits: number }> {
  const out = path.join(dir, 'out');
  const sets = overrides.flatMap((o) => ['--set', o]);
  const r = await flow([
    'run',
    path.join(dir, 'p.yaml'),
    '--out',
    out,
    '--cache-dir',
    path.join(dir, 'cache'),
    ...sets,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(await readFile(path.join(out, 'run.json'), 'utf8')) as {
    nodes: Record<string, { cacheHits: number }>;
  };
  return {
    v: Number(await readFile(path.join(out, 'i0001/value.txt'), 'utf8')),
    hits: summary.nodes.g?.cacheHits ?? -1,
  };
}

test('changing code a node imports misses its cache entries; explain names the file', async () => {
  const dir = await tempDir();
  await writeFile(path.join(dir, 'p.yaml'), PIPE);
  await writeFile(path.join(dir, 'gain.ts'), NODE);
  await writeFile(path.join(dir, 'package.json'), '{ "type": "module" }\n');
  await writeFile(path.join(dir, 'helper.ts'), 'export const gain = (): number => 2;\n');
  assert.deepEqual(await value(dir), { v: 8, hits: 0 });
  await writeFile(path.join(dir, 'helper.ts'), 'export const gain = (): number => 3;\n');
  assert.deepEqual(await value(dir), { v: 12, hits: 0 }, 'the edited helper is not served from the cache');

  const cacheDir = path.join(dir, 'cache');
  const same = await flow([
    'cache',
    'explain',
    path.join(dir, 'p.yaml'),
    '--cache-dir',
    cacheDir,
    '--allow-plugins',
  ]);
  assert.equal(same.code, 0, same.stderr);
  assert.match(same.stdout, /^g \(test\.gain\): its own key material matches \d+ entr/m);
  await writeFile(path.join(dir, 'helper.ts'), 'export const gain = (): number => 4;\n');
  const changed = await flow([
    'cache',
    'explain',
    '--allow-plugins',
    path.join(dir, 'p.yaml'),
    '--cache-dir',
    cacheDir,
    '--set',
    'g.offset=1',
  ]);
  assert.equal(changed.code, 0, changed.stderr);
  assert.match(
    changed.stdout,
    /^g \(test\.gain\): no entry matches; nearest differs in: code \(.*helper\.ts\), params\.offset 0 -> 1$/m,
  );
  assert.match(changed.stdout, /^src \(test\.count\): its own key material matches/m);
});

/** A run in this process; returns the cache hits of node g. */
async function inProcess(dir: string, overrides: string[] = []): Promise<number> {
  const plan = await loadPlan(path.join(dir, 'p.yaml'), { overrides });
  const r = await runPlan(plan, { cache: new StageCache({ dir: path.join(dir, 'cache') }) }).result;
  return r.summary.nodes.g?.cacheHits ?? -1;
}

test('flow cache prune removes least-recently-used entries down to the cap', async () => {
  const dir = await tempDir();
  await writeFile(path.join(dir, 'p.yaml'), PIPE);
  await writeFile(path.join(dir, 'gain.ts'), NODE);
  await writeFile(path.join(dir, 'package.json'), '{ "type": "module" }\n');
  await writeFile(path.join(dir, 'helper.ts'), 'export const gain = (): number => 2;\n');
  const cache = new StageCache({ dir: path.join(dir, 'cache') });
  await inProcess(dir);
  await inProcess(dir, ['g.offset=5']); // newer entries
  const all = await cache.list();
  const total = all.reduce((s, e) => s + e.bytes, 0);
  const r = await flow([
    'cache',
    'prune',
    '--max',
    String(Math.floor(total / 2)),
    '--cache-dir',
    path.join(dir, 'cache'),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^removed \d+ least-recently-used entries \(\d+ B\); \d+ B left in /);
  const left = await cache.list();
  assert.ok(left.reduce((s, e) => s + e.bytes, 0) <= total / 2);
  assert.ok(left.length > 0 && left.length < all.length);
  assert.ok((await inProcess(dir, ['g.offset=5'])) > 0, 'the most recently used entries survived');
});
