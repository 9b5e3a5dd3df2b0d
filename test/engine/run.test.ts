/** Running pipelines: values, run.json, the stage cache, includes, seeds, streaming and tensor hygiene. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { copyFile, mkdir, readFile, readdir, writeFile, stat } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { loadPlan } from '../../src/graph/plan.js';
import { runPlan, type RunOptions } from '../../src/runtime/execute.js';
import { StageCache } from '../../src/runtime/cache.js';
import { initBackend } from '../../src/runtime/backend.js';
import { AbortedError, FlowError } from '../../src/graph/errors.js';
import type { FlowEvent } from '../../src/runtime/events.js';
import { pipeline, REPO, tempDir, writeFiles } from './helpers.js';

await initBackend('wasm');

const BASIC = pipeline(`  src:
    type: test.count
    params: { n: '\${n}', size: 2 }
  double:
    type: test.scale
    inputs: { x: src.value }
    params: { factor: 2 }
  k:
    type: test.constant
    params: { value: 10 }
  sum:
    type: test.add
    inputs: { a: src.value, b: double.y, c: k.value }
  total:
    type: test.total
    inputs: { x: sum.y }
  save:
    type: test.write
    inputs: { x: total.total }
    params: { name: total }
`);

async function run(file: string, opts: RunOptions & { overrides?: string[]; seed?: number } = {}) {
  const plan = await loadPlan(file, { overrides: opts.overrides, seed: opts.seed });
  const handle = runPlan(plan, opts);
  const events: FlowEvent[] = [];
  handle.events$.subscribe((e) => events.push(e));
  const result = await handle.result;
  return { result, events, plan };
}

const doneBy = (events: FlowEvent[], cached: boolean): string[] =>
  [
    ...new Set(
      events
        .filter((e) => e.type === 'node-done' && e.cached === cached)
        .map((e) => (e as { node: string }).node),
    ),
  ].sort();

test('a pipeline computes the right values and writes outputs plus run.json', async () => {
  const dir = await writeFiles({ 'p.yaml': BASIC });
  const out = path.join(dir, 'out');
  const before = tf.memory().numTensors;
  const { result } = await run(path.join(dir, 'p.yaml'), { outDir: out, keep: ['total.total'] });
  // item i: src = i, double = 2i, sum = 3i + 10 on 4 pixels.
  assert.deepEqual(
    [...(result.outputs['total.total'] as Map<string, unknown>)],
    [
      ['i0000', 40],
      ['i0001', 52],
      ['i0002', 64],
    ],
  );
  assert.equal(await readFile(path.join(out, 'i0001', 'total.txt'), 'utf8'), '52\n');
  const runJson = JSON.parse(await readFile(path.join(out, 'run.json'), 'utf8'));
  assert.equal(runJson.pipeline.name, 't');
  assert.equal(runJson.backend.name, 'wasm');
  assert.deepEqual(runJson.metrics.total.i0002, { total: 64 });
  assert.equal(runJson.nodes.sum.executions, 3);
  assert.deepEqual(runJson.files, [
    'i0000/total.txt',
    'i0001/total.txt',
    'i0002/total.txt',
    'metrics-summary.csv',
    'metrics.csv',
    'run.json',
  ]);
  // totals 40, 52, 64: sample std 12, so the standard error is 12 / sqrt(3).
  const { sem, ...rest } = runJson.metricSummary.total.total;
  assert.deepEqual(rest, { n: 3, mean: 52, min: 40, max: 64 });
  assert.ok(Math.abs(sem - 12 / Math.sqrt(3)) < 1e-12);
  assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
});

test('second run is a full cache hit; changing only the save node re-runs only it; --no-cache recomputes', async () => {
  const dir = await writeFiles({ 'p.yaml': BASIC });
  const file = path.join(dir, 'p.yaml');
  const cacheDir = path.join(dir, 'cache');
  const first = await run(file, { outDir: path.join(dir, 'o1'), cache: new StageCache({ dir: cacheDir }) });
  assert.deepEqual(doneBy(first.events, true), []);
  // A fresh StageCache object: hits must come from disk, not memory.
  const second = await run(file, { outDir: path.join(dir, 'o2'), cache: new StageCache({ dir: cacheDir }) });
  assert.deepEqual(doneBy(second.events, false), []);
  assert.equal(second.result.summary.cache.misses, 0);
  assert.equal(
    await readFile(path.join(dir, 'o2', 'i0002', 'total.txt'), 'utf8'),
    '64\n',
    'files replayed from cache',
  );
  assert.deepEqual(second.result.summary.metrics.total?.i0002, { total: 64 }, 'metrics replayed from cache');
  const third = await run(file, {
    outDir: path.join(dir, 'o3'),
    cache: new StageCache({ dir: cacheDir }),
    overrides: ['save.name=renamed'],
  });
  assert.deepEqual(doneBy(third.events, false), ['save']);
  assert.equal(await readFile(path.join(dir, 'o3', 'i0000', 'renamed.txt'), 'utf8'), '40\n');
  const fourth = await run(file, {
    outDir: path.join(dir, 'o4'),
    cache: new StageCache({ dir: cacheDir }),
    overrides: ['double.factor=3'],
  });
  assert.deepEqual(
    doneBy(fourth.events, false),
    ['double', 'save', 'sum', 'total'],
    'downstream of the change re-runs',
  );
  const fifth = await run(file, { outDir: path.join(dir, 'o5'), cache: false });
  assert.equal(doneBy(fifth.events, true).length, 0);
});

test('a corrupt cache entry is reported once, removed and recomputed', async () => {
  const dir = await writeFiles({ 'p.yaml': BASIC });
  const file = path.join(dir, 'p.yaml');
  const cacheDir = path.join(dir, 'cache');
  await run(file, { cache: new StageCache({ dir: cacheDir }) });
  const entries = await new StageCache({ dir: cacheDir }).list();
  const victims = entries.filter((e) => e.node === 'double');
  assert.equal(victims.length, 3);
  for (const v of victims) {
    const f = path.join(cacheDir, v.key.slice(0, 2), `${v.key}.entry`);
    const buf = await readFile(f);
    buf[Math.floor(buf.length / 2)] ^= 0xff;
    await writeFile(f, buf);
  }
  const again = await run(file, { cache: new StageCache({ dir: cacheDir }), keep: ['total.total'] });
  const warnings = again.events.filter((e) => e.type === 'warning');
  assert.equal(warnings.length, 1, 'reported once');
  assert.match(
    (warnings[0] as { message: string }).message,
    /corrupt cache entry for node 'double' \(checksum mismatch\)/,
  );
  assert.deepEqual(doneBy(again.events, false), ['double']);
  assert.deepEqual([...(again.result.outputs['total.total'] as Map<string, unknown>).values()], [40, 52, 64]);
  assert.ok(
    (await new StageCache({ dir: cacheDir }).list()).every((e) => e.ok),
    'entries rewritten',
  );
});

test('included chains: inputs, outputs, params and nesting flatten into group/node ids', async () => {
  const dir = await writeFiles({
    'p.yaml': pipeline(`  src:
    type: test.count
    params: { n: 2 }
  g:
    include: chains/outer.yaml
    params: { factor: 5 }
    inputs: { x: src.value }
  total:
    type: test.total
    inputs: { x: g.y }
`),
    'chains/outer.yaml': `version: 1
name: outer
params: { factor: 2 }
inputs: { x: image }
outputs: { y: inner.y }
nodes:
  s:
    type: test.scale
    inputs: { x: inputs.x }
    params: { factor: '\${factor}' }
  inner:
    include: inner.yaml
    inputs: { x: s.y }
`,
    'chains/inner.yaml': `version: 1
name: inner
params: { factor: 3 }
inputs: { x: image }
outputs: { y: s.y }
nodes:
  s:
    type: test.scale
    inputs: { x: inputs.x }
    params: { factor: '\${factor}' }
`,
  });
  const { result, plan } = await run(path.join(dir, 'p.yaml'), { keep: ['total.total'] });
  assert.deepEqual([...plan.nodes.keys()].sort(), ['g/inner/s', 'g/s', 'src', 'total']);
  // item 1: 1 * 5 * 3 on 4 pixels = 60
  assert.deepEqual([...(result.outputs['total.total'] as Map<string, unknown>).values()], [0, 60]);
});

test('seeds: same seed, same result; another seed, another result; items differ', async () => {
  const text = pipeline(`  src:
    type: test.count
    params: { n: 2 }
  z:
    type: test.noise
    inputs: { x: src.value }
  total:
    type: test.total
    inputs: { x: z.y }
`);
  const dir = await writeFiles({ 'p.yaml': text });
  const file = path.join(dir, 'p.yaml');
  const values = async (seed?: number) => [
    ...(
      (await run(file, { keep: ['total.total'], cache: false, seed })).result.outputs['total.total'] as Map<
        string,
        number
      >
    ).values(),
  ];
  const a = await values();
  const b = await values();
  const c = await values(99);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.notEqual(
    (a[0] as number) + 1 /* item 1 adds 1 per pixel */,
    (a[1] as number) - 3,
    'noise differs across items',
  );
});

test('tensor count stays flat across a 100-item run and items stream (bounded in flight)', async () => {
  const dir = await writeFiles({
    'p.yaml': BASIC.replace("n: '${n}'", 'n: 100').replace('size: 2', 'size: 8'),
  });
  const before = tf.memory().numTensors;
  const samples: number[] = [];
  const plan = await loadPlan(path.join(dir, 'p.yaml'));
  const handle = runPlan(plan, { cache: false, maxItemsInFlight: 3 });
  let srcDone = 0;
  let maxAhead = 0;
  let saveDone = 0;
  handle.events$.subscribe((e) => {
    if (e.type === 'node-done' && e.node === 'src') srcDone++;
    if (e.type === 'node-done' && e.node === 'save') {
      saveDone++;
      samples.push(tf.memory().numTensors);
    }
    maxAhead = Math.max(maxAhead, srcDone - saveDone);
  });
  await handle.result;
  assert.equal(samples.length, 100);
  assert.equal(tf.memory().numTensors, before, 'no tensors left after the run');
  const early = Math.max(...samples.slice(5, 50));
  const late = Math.max(...samples.slice(50));
  assert.ok(late <= early, `tensor count grows with items: early max ${early}, late max ${late}`);
  assert.ok(late - before <= 12, `live tensors bounded by items in flight: ${late - before}`);
  assert.ok(maxAhead <= 3, `source ran ${maxAhead} items ahead of the sink (limit 3)`);
});

test('abort stops the run, writes no output folder and frees tensors', async () => {
  const dir = await writeFiles({
    'p.yaml': pipeline(`  src:
    type: test.count
    params: { n: 4 }
  slow:
    type: test.slow
    inputs: { x: src.value }
    params: { steps: 200, ms: 20 }
  total:
    type: test.total
    inputs: { x: slow.y }
`),
  });
  const out = path.join(dir, 'out');
  const before = tf.memory().numTensors;
  const plan = await loadPlan(path.join(dir, 'p.yaml'));
  const controller = new AbortController();
  const handle = runPlan(plan, {
    outDir: out,
    signal: controller.signal,
    cache: new StageCache({ dir: path.join(dir, 'c') }),
  });
  let abortedAt = 0;
  handle.events$.subscribe((e) => {
    if (e.type === 'progress' && !abortedAt) {
      abortedAt = Date.now();
      controller.abort();
    }
  });
  await assert.rejects(handle.result, AbortedError);
  const stopMs = Date.now() - abortedAt;
  assert.ok(stopMs < 1000, `stopped ${stopMs} ms after abort`);
  await assert.rejects(stat(out), /ENOENT/);
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.includes('partial')),
    [],
    'no staging folder left',
  );
  assert.equal(tf.memory().numTensors, before);
  for (const e of await new StageCache({ dir: path.join(dir, 'c') }).list())
    assert.ok(e.ok, 'cache consistent');
});

test('a failing node fails the run with its id and item, leaving no outputs and no tensors', async () => {
  const dir = await writeFiles({
    'p.yaml': pipeline(`  src:
    type: test.count
  f:
    type: test.fail
    inputs: { x: src.value }
    params: { message: kaput }
  total:
    type: test.total
    inputs: { x: f.y }
`),
  });
  const out = path.join(dir, 'out');
  const before = tf.memory().numTensors;
  await assert.rejects(run(path.join(dir, 'p.yaml'), { outDir: out }), (e: unknown) => {
    assert.ok(e instanceof FlowError);
    assert.match(e.message, /node 'f' \(test.fail\) on item 'i0000': kaput/);
    return true;
  });
  await assert.rejects(stat(out), /ENOENT/);
  assert.equal(tf.memory().numTensors, before);
});

test('independent branches run concurrently', async () => {
  const dir = await writeFiles({
    'p.yaml': pipeline(`  src:
    type: test.count
    params: { n: 1 }
  a:
    type: test.slow
    inputs: { x: src.value }
    params: { steps: 5, ms: 5 }
  b:
    type: test.slow
    inputs: { x: src.value }
    params: { steps: 5, ms: 5 }
`),
  });
  const { events } = await run(path.join(dir, 'p.yaml'), { cache: false });
  const progress = events.filter((e) => e.type === 'progress').map((e) => (e as { node: string }).node);
  const firstB = progress.indexOf('b');
  const lastA = progress.lastIndexOf('a');
  assert.ok(firstB >= 0 && firstB < lastA, `branches interleave: ${progress.join(',')}`);
});

test('per-item inputs from two sources join by item key; mismatched keys are an error', async () => {
  const ok = await writeFiles({
    'p.yaml': pipeline(`  a:
    type: test.count
    params: { n: 3 }
  b:
    type: test.count
    params: { n: 3 }
  s:
    type: test.add
    inputs: { a: a.value, b: b.value }
  total:
    type: test.total
    inputs: { x: s.y }
`),
  });
  const r = await run(path.join(ok, 'p.yaml'), { keep: ['total.total'] });
  assert.deepEqual([...(r.result.outputs['total.total'] as Map<string, number>).values()], [0, 8, 16]);
  const bad = await writeFiles({
    'p.yaml': (await readFile(path.join(ok, 'p.yaml'), 'utf8')).replace('n: 3 }\n  s:', 'n: 2 }\n  s:'),
  });
  await assert.rejects(run(path.join(bad, 'p.yaml')), /item 'i0002' arrived from a but never from b/);
});

test('library API: events as an Observable and outputs handed over', async () => {
  const dir = await tempDir();
  await writeFile(path.join(dir, 'p.yaml'), BASIC.replace('$PLUGIN', (await import('./helpers.js')).PLUGIN));
  const plan = await loadPlan(path.join(dir, 'p.yaml'));
  const handle = runPlan(plan, { keep: ['sum.y'] });
  const types = new Set<string>();
  handle.events$.subscribe((e) => types.add(e.type));
  const { outputs, files } = await handle.result;
  for (const t of ['run-start', 'items', 'node-start', 'node-done', 'run-done']) assert.ok(types.has(t), t);
  const y = (outputs['sum.y'] as Map<string, tf.Tensor>).get('i0001') as tf.Tensor;
  assert.deepEqual(Array.from(await y.data()), [13, 13, 13, 13]);
  y.dispose();
  for (const t of (outputs['sum.y'] as Map<string, tf.Tensor>).values()) if (!t.isDisposed) t.dispose();
  assert.equal(files.length, 3, 'files returned in memory when no outDir is given');
});

test('widening a source selection reuses the cached items: only the new images run; other params still key', async () => {
  const dir = await writeFiles({
    'p.yaml': pipeline(
      `  src:
    type: load
    params: { path: 'imgs/*.png', limit: '\${limit}', channels: '\${channels}' }
  double:
    type: test.scale
    inputs: { x: src.image }
    params: { factor: 2 }
`,
      '  limit: 2\n  channels: 1\n',
    ),
  });
  await mkdir(path.join(dir, 'imgs'));
  for (const i of [0, 1, 2]) {
    const name = `test-000${i}.png`;
    await copyFile(path.join(REPO, 'assets/fashion', name), path.join(dir, 'imgs', name));
  }
  const file = path.join(dir, 'p.yaml');
  const cacheDir = path.join(dir, 'cache');
  const executed = (events: FlowEvent[]): string[] =>
    events
      .filter((e) => e.type === 'node-done' && !e.cached)
      .map((e) => `${(e as { node: string }).node}:${(e as { item?: string }).item}`)
      .sort();
  const first = await run(file, { cache: new StageCache({ dir: cacheDir }), keep: ['double.y'] });
  assert.deepEqual(executed(first.events), [
    'double:test-0000',
    'double:test-0001',
    'src:test-0000',
    'src:test-0001',
  ]);
  const wider = await run(file, {
    cache: new StageCache({ dir: cacheDir }),
    overrides: ['limit=3'],
    keep: ['double.y'],
  });
  assert.deepEqual(executed(wider.events), ['double:test-0002', 'src:test-0002'], 'only the new image runs');
  const a = (first.result.outputs['double.y'] as Map<string, tf.Tensor>).get('test-0001') as tf.Tensor;
  const b = (wider.result.outputs['double.y'] as Map<string, tf.Tensor>).get('test-0001') as tf.Tensor;
  assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
  const rgb = await run(file, { cache: new StageCache({ dir: cacheDir }), overrides: ['channels=3'] });
  assert.equal(executed(rgb.events).length, 4, 'a param that changes each image is part of its key');
});
