/**
 * What a run leaves beside its outputs (issue 16): the metrics summarised over items in run.json,
 * metrics.csv / metrics-summary.csv, the summary table `flow run` prints, and the provenance
 * tEXt chunks of every PNG. Checked on a real small VIPaint run against independent computations.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import sharp from 'sharp';
import { describeValues } from '../../src/runtime/metric-summary.js';
import type { RunSummary } from '../../src/runtime/events.js';
import { readPngText } from '../../src/io/png-text.js';
import { formatSummary } from '../../src/cli/progress.js';
import { formatNumber } from '../../src/cli/metric-table.js';
import { canonicalJson } from '../../src/runtime/cache.js';
import { hashSeed } from '../../src/util/random.js';
import { tinyVipaintRun } from './tiny-run.js';

const { dir, outDir } = await tinyVipaintRun();
after(() => rm(dir, { recursive: true, force: true }));
const run = JSON.parse(await readFile(path.join(outDir, 'run.json'), 'utf8')) as RunSummary;
const ITEMS = ['camera', 'chelsea', 'coffee'];

/** Welford's one-pass mean and variance: a different algorithm from the two-pass one under test. */
function welford(xs: number[]): { mean: number; sem: number } {
  let mean = 0;
  let m2 = 0;
  xs.forEach((x, i) => {
    const d = x - mean;
    mean += d / (i + 1);
    m2 += d * (x - mean);
  });
  return { mean, sem: Math.sqrt(m2 / (xs.length - 1) / xs.length) };
}

/** Minimal RFC 4180 reader for the CSVs written (no quoted cells occur here; checked). */
function readCsv(text: string): string[][] {
  assert.ok(!text.includes('"'), 'no quoted cells expected');
  return text
    .trimEnd()
    .split('\n')
    .map((l) => l.split(','));
}

test('describeValues: closed form on 1..4 and a single value', () => {
  const s = describeValues([4, 1, 3, 2]);
  assert.equal(s.n, 4);
  assert.equal(s.mean, 2.5);
  assert.ok(Math.abs(s.sem - Math.sqrt(5 / 3) / 2) < 1e-15, `sem ${s.sem}`);
  assert.deepEqual([s.min, s.max], [1, 4]);
  assert.deepEqual(describeValues([7]), { n: 1, mean: 7, sem: 0, min: 7, max: 7 });
  assert.throws(() => describeValues([]), /no values/);
  assert.deepEqual([13.10477, 0.033921, 16632.66, 3, 2.5e-5].map(formatNumber), [
    '13.1',
    '0.03392',
    '16630',
    '3',
    '2.500e-5',
  ]);
});

test('run.json summarises every numeric metric over the items', () => {
  const summary = run.metricSummary ?? {};
  assert.deepEqual(Object.keys(summary).sort(), ['fit', 'score']);
  for (const [node, stats] of Object.entries(summary)) {
    const perItem = run.metrics[node] ?? {};
    assert.deepEqual(Object.keys(perItem).sort(), ITEMS);
    const names = Object.keys(perItem.camera ?? {});
    assert.deepEqual(Object.keys(stats).sort(), [...names].sort(), `${node}: every metric summarised`);
    for (const name of names) {
      const xs = ITEMS.map((i) => perItem[i]?.[name] as number);
      const ref = welford(xs);
      const s = stats[name];
      assert.ok(s, `${node}.${name}`);
      assert.equal(s.n, 3);
      assert.ok(
        Math.abs(s.mean - ref.mean) <= 1e-12 * Math.max(1, Math.abs(ref.mean)),
        `${node}.${name} mean`,
      );
      assert.ok(Math.abs(s.sem - ref.sem) <= 1e-9 * Math.max(1, ref.sem), `${node}.${name} sem`);
      assert.equal(s.min, Math.min(...xs));
      assert.equal(s.max, Math.max(...xs));
    }
  }
  assert.ok(run.metricSummary?.score?.psnr_missing_mean, 'the missing-region PSNR is summarised');
});

test('metrics.csv and metrics-summary.csv hold the same numbers as run.json', async () => {
  const rows = readCsv(await readFile(path.join(outDir, 'metrics.csv'), 'utf8'));
  const [head, ...body] = rows as [string[], ...string[][]];
  assert.deepEqual(head.slice(0, 2), ['node', 'item']);
  assert.equal(body.length, 2 * ITEMS.length, 'one row per node and item');
  for (const row of body) {
    const values = run.metrics[row[0] as string]?.[row[1] as string] ?? {};
    head.slice(2).forEach((name, j) => {
      const cell = row[j + 2] as string;
      if (values[name] === undefined) assert.equal(cell, '', `${row[0]}/${row[1]} has no ${name}`);
      else assert.equal(Number(cell), values[name], `${row[0]}/${row[1]}.${name}`);
    });
  }
  const summaryRows = readCsv(await readFile(path.join(outDir, 'metrics-summary.csv'), 'utf8'));
  assert.deepEqual(summaryRows[0], ['node', 'metric', 'n', 'mean', 'sem', 'min', 'max']);
  const expected = Object.entries(run.metricSummary ?? {}).flatMap(([node, stats]) =>
    Object.entries(stats).map(([name, s]) => [node, name, s.n, s.mean, s.sem, s.min, s.max].map(String)),
  );
  assert.deepEqual(summaryRows.slice(1), expected);
  assert.ok(run.files.includes('metrics.csv') && run.files.includes('metrics-summary.csv'));
});

test('the end-of-run table shows the per-item means over items', () => {
  const text = formatSummary(run, outDir);
  assert.match(text, /metrics over items:\nnode +metric +items +mean +sem +min +max\n/);
  const s = run.metricSummary?.score?.psnr_mean;
  assert.ok(s);
  const row = text.split('\n').find((l) => /^score +psnr_mean /.test(l));
  assert.deepEqual(row?.split(/ +/), [
    'score',
    'psnr_mean',
    '3',
    ...[s.mean, s.sem, s.min, s.max].map(formatNumber),
  ]);
  assert.ok(!/psnr_min/.test(text), 'per-sample min/max columns stay in run.json and the CSV');
  assert.match(text, /^fit +fit_loss +3 /m);
});

test('every PNG carries its provenance in tEXt chunks', async () => {
  const pngs = run.files.filter((f) => f.endsWith('.png'));
  assert.equal(pngs.length, ITEMS.length * 3);
  const paramsDigest = createHash('sha256').update(canonicalJson(run.nodeParams.save)).digest('hex');
  for (const file of pngs) {
    const bytes = await readFile(path.join(outDir, file));
    const item = file.split('/')[0] as string;
    const text = (key: string) => readPngText(bytes, key);
    assert.equal(text('Software'), `flow ${run.versions.flow}`);
    assert.equal(text('flow:pipeline'), 'vipaint-tiny');
    assert.equal(text('flow:pipeline-sha256'), run.pipeline.sha256);
    assert.equal(text('flow:node'), 'save');
    assert.equal(text('flow:item'), item);
    assert.equal(text('flow:seed'), String(hashSeed(hashSeed(3, 'save'), item)));
    assert.equal(text('flow:params-sha256'), paramsDigest);
    // libvips (through sharp) reads the same chunks back: the file is a valid PNG, CRCs included.
    const comments = (await sharp(bytes).metadata()).comments ?? [];
    assert.deepEqual(
      comments.map((c) => c.keyword),
      [
        'Software',
        'flow:pipeline',
        'flow:pipeline-sha256',
        'flow:node',
        'flow:item',
        'flow:seed',
        'flow:params-sha256',
      ],
    );
    assert.equal(comments.find((c) => c.keyword === 'flow:item')?.text, item);
  }
  // The pipeline's own text is recorded too, and is what the sha256 covers.
  assert.equal(
    createHash('sha256')
      .update(run.pipeline.text ?? '')
      .digest('hex'),
    run.pipeline.sha256,
  );
});
