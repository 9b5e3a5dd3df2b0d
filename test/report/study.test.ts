/**
 * Study tables: per-method means and standard errors, calls per image, paired differences, and
 * the merging of a study run's chunks, on hand-built run summaries with values worked out by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunSummary } from '../../src/runtime/events.js';
import {
  formatStudyTable,
  groupStudyRuns,
  mergeStudyRuns,
  pairedDifference,
  summarizeStudy,
} from '../../src/report/study.js';

/** A study run: per method, per image [psnr_mean, agreement]; `calls` per method per image. */
function studyRun(
  params: Record<string, unknown>,
  values: Record<string, Record<string, [number, number]>>,
  calls: Record<string, { forward: number; gradient: number }>,
): RunSummary {
  const summary: RunSummary = {
    pipeline: { name: 'study', file: 'study.yaml', sha256: 'x' },
    params,
    nodeParams: {},
    backend: { name: 'cpu', provider: 'test' },
    versions: {},
    started: '2026-12-02T00:00:00Z',
    ms: 1000,
    cache: { enabled: false, hits: 0, misses: 0, corrupt: 0 },
    nodes: {},
    metrics: { keys: { '': { keypoints: 2 } } },
    files: [],
  };
  for (const [method, byImage] of Object.entries(values)) {
    summary.nodeParams[`score-${method}/score`] = {};
    const images = Object.keys(byImage);
    summary.metrics[`score-${method}/score`] = Object.fromEntries(
      images.map((i) => [i, { psnr_mean: (byImage[i] as [number, number])[0] }]),
    );
    summary.metrics[`score-${method}/classify`] = Object.fromEntries(
      images.map((i) => [i, { agreement: (byImage[i] as [number, number])[1] }]),
    );
    const c = calls[method] ?? { forward: 0, gradient: 0 };
    summary.nodes[`${method}/solve`] = {
      type: 'solver',
      version: 1,
      executions: images.length,
      cacheHits: 0,
      ms: 10 * images.length,
      calls: { forward: c.forward * images.length, gradient: c.gradient * images.length },
    };
  }
  return summary;
}

const CALLS = { vipaint2: { forward: 4, gradient: 80 }, dps: { forward: 0, gradient: 80 } };
const ALL = {
  dps: { a: [20, 1], b: [22, 0], c: [27, 1] } as Record<string, [number, number]>,
  vipaint2: { a: [21, 1], b: [25, 1], c: [26, 0] } as Record<string, [number, number]>,
};

test('summarizeStudy: VIPaint first, means with standard errors, calls per image; paired differences', () => {
  const rows = summarizeStudy(studyRun({ mask: 'rotated', images: 'test[0:3]' }, ALL, CALLS));
  assert.deepEqual(
    rows.map((r) => r.method),
    ['vipaint2', 'dps'],
  );
  const [vip, dps] = rows as [(typeof rows)[number], (typeof rows)[number]];
  assert.equal(vip.images, 3);
  assert.deepEqual([vip.forwardCalls, vip.gradientCalls], [4, 80]);
  // dps PSNR 20, 22, 27: mean 23, sample variance (9 + 1 + 16) / 2 = 13, sem sqrt(13 / 3).
  assert.equal(dps.values.psnr_mean?.mean, 23);
  assert.ok(Math.abs((dps.values.psnr_mean?.sem as number) - Math.sqrt(13 / 3)) < 1e-12);
  assert.ok(Math.abs((vip.values.agreement?.mean as number) - 2 / 3) < 1e-12);
  // dps - vipaint2 per image: -1, -3, 1: mean -1, variance (0 + 4 + 4) / 2 = 4, sem sqrt(4 / 3).
  const d = pairedDifference(dps, vip, 'psnr_mean');
  assert.equal(d?.mean, -1);
  assert.ok(Math.abs((d?.sem as number) - Math.sqrt(4 / 3)) < 1e-12);
  const table = formatStudyTable(rows, { title: 'rotated' });
  assert.match(table, /Mean ± standard error over 3 images/);
  assert.match(table, /\| vipaint2 \| 4 \+ 80 \| 24\.00 ± 1\.53 \|/);
  assert.match(table, /\| dps \| -1\.00 ± 1\.15 \| 0\.000 ± 0\.577 \|/);
});

test('mergeStudyRuns: chunks of one run give the table of the whole run; overlaps and other settings are refused', () => {
  const pick = (items: string[]) =>
    Object.fromEntries(
      Object.entries(ALL).map(([m, byImage]) => [
        m,
        Object.fromEntries(items.map((i) => [i, byImage[i] as [number, number]])),
      ]),
    );
  const whole = summarizeStudy(studyRun({ mask: 'rotated', images: 'test[0:3]' }, ALL, CALLS));
  const chunkA = {
    file: 'a.json',
    summary: studyRun({ mask: 'rotated', images: 'test[0:2]' }, pick(['a', 'b']), CALLS),
  };
  const chunkB = {
    file: 'b.json',
    summary: studyRun({ mask: 'rotated', images: 'test[2:3]' }, pick(['c']), CALLS),
  };
  const merged = summarizeStudy(mergeStudyRuns([chunkA, chunkB]));
  for (const [i, row] of merged.entries()) {
    const ref = whole[i] as (typeof whole)[number];
    assert.equal(row.method, ref.method);
    assert.equal(row.images, 3);
    assert.deepEqual([row.forwardCalls, row.gradientCalls], [ref.forwardCalls, ref.gradientCalls]);
    assert.deepEqual(row.values, ref.values);
  }
  assert.equal(chunkA.summary.nodes['dps/solve']?.executions, 2, 'inputs are not modified');
  const overlap = {
    file: 'c.json',
    summary: studyRun({ mask: 'rotated', images: 'test[1:3]' }, pick(['b', 'c']), CALLS),
  };
  assert.throws(() => mergeStudyRuns([chunkA, overlap]), /image 'b' is in both a\.json and c\.json/);
  const random = {
    file: 'r.json',
    summary: studyRun({ mask: 'random', images: 'test[2:3]' }, pick(['c']), CALLS),
  };
  assert.throws(() => mergeStudyRuns([chunkA, random]), /r\.json: pipeline or params differ from a\.json/);
  const groups = groupStudyRuns([chunkA, random, chunkB]);
  assert.deepEqual(
    groups.map((g) => g.map((r) => r.file)),
    [['a.json', 'b.json'], ['r.json']],
  );
});
