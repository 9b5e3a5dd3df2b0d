/**
 * `flow report RUN_DIR` (issue 16) on a real small VIPaint run: the HTML parses without errors,
 * every image is inlined (and is byte for byte the grid on disk), nothing is fetched from
 * elsewhere, and every number shown matches run.json exactly.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile, writeFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { parse, type DefaultTreeAdapterMap, type ParserError } from 'parse5';
import type { RunSummary } from '../../src/runtime/events.js';
import { main } from '../../src/cli/main.js';
import { formatNumber } from '../../src/report/number-format.js';
import { readRunFolder } from '../../src/report/run-folder.js';
import { tinyVipaintRun } from './tiny-run.js';
import { OUTPUT_MARKER, checkOutputTarget } from '../../src/runtime/output-marker.js';

const mkdtempIn = (parent: string): Promise<string> => mkdtemp(path.join(parent, 'other-'));

type Node = DefaultTreeAdapterMap['childNode'] | DefaultTreeAdapterMap['document'];
type Element = DefaultTreeAdapterMap['element'];

const { dir, outDir } = await tinyVipaintRun();
after(() => rm(dir, { recursive: true, force: true }));
const run = JSON.parse(await readFile(path.join(outDir, 'run.json'), 'utf8')) as RunSummary;
const reportFile = path.join(dir, 'report.html');
const code = await main(['report', outDir, '--out', reportFile]);
const html = await readFile(reportFile, 'utf8');
const errors: ParserError[] = [];
const doc = parse(html, { onParseError: (e) => errors.push(e) });

function elements(n: Node, out: Element[] = []): Element[] {
  if ('tagName' in n) out.push(n);
  if ('childNodes' in n) for (const c of n.childNodes) elements(c, out);
  return out;
}
const all = elements(doc);
const attr = (e: Element, name: string): string | undefined => e.attrs.find((a) => a.name === name)?.value;
const text = (n: Node): string =>
  'value' in n && n.nodeName === '#text' ? n.value : 'childNodes' in n ? n.childNodes.map(text).join('') : '';
const rowsOf = (t: Element): Element[][] =>
  elements(t)
    .filter((e) => e.tagName === 'tr')
    .slice(1)
    .map((tr) => tr.childNodes.filter((c): c is Element => 'tagName' in c && c.tagName === 'td'));
/** A numeric cell shows formatNumber(value) and keeps the exact value in data-value. */
function assertNumber(td: Element | undefined, value: number, what: string): void {
  assert.ok(td, what);
  assert.equal(Number(attr(td, 'data-value')), value, what);
  assert.equal(text(td), formatNumber(value), what);
}

test('the CLI writes one HTML file that parses cleanly', () => {
  assert.equal(code, 0);
  assert.deepEqual(errors, [], 'no HTML parse errors');
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  assert.equal(text(all.find((e) => e.tagName === 'h1') as Element), 'vipaint-tiny');
});

test('self-contained: every image inlined, no scripts, no external references', async () => {
  const imgs = all.filter((e) => e.tagName === 'img');
  const grids = run.files.filter((f) => f.endsWith('/grid.png'));
  assert.equal(imgs.length, grids.length);
  for (const img of imgs) {
    const src = attr(img, 'src') ?? '';
    assert.ok(src.startsWith('data:image/png;base64,'), 'inlined');
    const file = attr(img, 'alt') as string;
    assert.ok(grids.includes(file));
    assert.deepEqual(Buffer.from(src.slice(22), 'base64'), await readFile(path.join(outDir, file)));
  }
  for (const e of all) {
    assert.ok(!['script', 'link', 'iframe', 'object', 'embed'].includes(e.tagName), `no <${e.tagName}>`);
    for (const a of e.attrs)
      if (/^(src|href|xlink:href|srcset|poster)$/.test(a.name) || a.name.endsWith(':href'))
        assert.ok(/^(data:|#)/.test(a.value), `${e.tagName} ${a.name}=${a.value.slice(0, 40)}`);
  }
  assert.ok(!/@import|url\(\s*['"]?https?:/i.test(html), 'no CSS imports or remote urls');
});

test('the summary over items matches run.json exactly', () => {
  const t = all.find((e) => attr(e, 'id') === 'metric-summary');
  assert.ok(t);
  const rows = rowsOf(t);
  const expected = Object.entries(run.metricSummary ?? {}).flatMap(([node, stats]) =>
    Object.entries(stats)
      // Per-sample ranges (psnr_min beside psnr_mean) stay in the CSV: the page shows the means.
      .filter(([metric]) => !/_(min|max)$/.test(metric) || !(metric.replace(/_(min|max)$/, '_mean') in stats))
      .map(([metric, s]) => ({ node, metric, s })),
  );
  assert.ok(expected.some((e) => e.metric === 'psnr_mean') && !expected.some((e) => e.metric === 'psnr_max'));
  assert.equal(rows.length, expected.length);
  rows.forEach((r, i) => {
    const { node, metric, s } = expected[i] as (typeof expected)[number];
    assert.deepEqual(
      [text(r[0] as Element), text(r[1] as Element), text(r[2] as Element)],
      [node, metric, '3'],
    );
    assertNumber(r[3], s.mean, `${node}.${metric} mean`);
    assertNumber(r[4], s.sem, `${node}.${metric} sem`);
    assertNumber(r[5], s.min, `${node}.${metric} min`);
    assertNumber(r[6], s.max, `${node}.${metric} max`);
  });
});

test('metrics per item, timings and network calls match run.json', () => {
  for (const node of ['fit', 'score']) {
    const t = all.find((e) => e.tagName === 'table' && attr(e, 'data-node') === node) as Element;
    const names = elements(t)
      .filter((e) => e.tagName === 'th')
      .map(text)
      .slice(1);
    const rows = rowsOf(t);
    assert.ok(names.length >= 4, `${node}: metric columns`);
    assert.deepEqual(rows.map((r) => text(r[0] as Element)).sort(), ['camera', 'chelsea', 'coffee']);
    for (const r of rows) {
      const values = run.metrics[node]?.[text(r[0] as Element)] ?? {};
      names.forEach((name, j) => assertNumber(r[j + 1], values[name] as number, `${node}.${name}`));
    }
  }
  const timings = rowsOf(all.find((e) => attr(e, 'id') === 'timings') as Element);
  for (const r of timings.slice(0, -1)) {
    const n = run.nodes[text(r[0] as Element)];
    assert.ok(n);
    assert.equal(text(r[2] as Element), String(n.executions));
    assertNumber(r[4], n.ms, 'ms');
    assertNumber(r[5], n.calls.forward, 'forward calls');
    assertNumber(r[6], n.calls.gradient, 'gradient calls');
  }
  const total = timings.at(-1) as Element[];
  assertNumber(total[4], run.ms, 'run time');
  const calls = Object.values(run.nodes).reduce((a, n) => a + n.calls.gradient, 0);
  assert.equal(calls, 3 * (3 * 3 + 3), 'per item: 3 fit iterations x 3 calls, 3 refinement steps');
  assertNumber(total[6], calls, 'total gradient calls');
});

test('graph, loss curves and provenance are on the page', () => {
  const svgs = all.filter((e) => e.tagName === 'svg');
  const graph = svgs.find((s) => elements(s).some((e) => e.tagName === 'title' && text(e) === 'flow'));
  assert.ok(graph, 'the graph picture');
  const titles = elements(graph)
    .filter((e) => attr(e, 'class') === 'node')
    .map((g) => text(g.childNodes.find((c) => 'tagName' in c && c.tagName === 'title') as Node));
  assert.deepEqual(titles.sort(), Object.keys(run.nodes).sort());
  const losses = svgs.filter((s) =>
    elements(s).some((e) => e.tagName === 'text' && /fit-loss\.csv$/.test(text(e))),
  );
  assert.equal(losses.length, 3, 'one loss plot per item');
  for (const s of losses)
    assert.equal(
      elements(s).filter((e) => e.tagName === 'polyline').length,
      4,
      'total, likelihood, kl, prior',
    );
  const digests = rowsOf(all.find((e) => attr(e, 'id') === 'digests') as Element);
  assert.ok(
    digests.some(
      (r) => text(r[0] as Element) === 'ldm' && text(r[3] as Element) === run.nodes.ldm?.inputDigest,
    ),
  );
  assert.match(run.nodes.ldm?.inputDigest ?? '', /^[0-9a-f]{64}$/);
  const pres = all.filter((e) => e.tagName === 'pre').map(text);
  assert.ok(pres.includes(run.pipeline.text as string), 'the pipeline text, verbatim');
  assert.ok(pres.includes(JSON.stringify(run.params, null, 2)));
  assert.ok(text(doc).includes(run.pipeline.sha256));
  assert.ok(text(doc).includes(`flow ${run.versions.flow}`));
});

test('a folder that is not a run is a one-line error', async () => {
  const empty = path.join(dir, 'empty');
  await mkdir(empty);
  await assert.rejects(readRunFolder(empty), /empty: no run\.json \(not a flow output folder\)$/);
  await writeFile(path.join(empty, 'run.json'), '{"pipeline": {}}');
  await assert.rejects(readRunFolder(empty), /run\.json: 'params' missing \(not a flow run\.json\?\)$/);
  const bad = await readRunFolder(outDir);
  await assert.rejects(bad.files.read('../report.html'), /is not a file of this run/);
});

test('a report never replaces a file flow did not write; inside the run folder it joins the marker', async () => {
  // Default place, twice: the second replaces the first (flow's own), and a next run may still
  // replace the folder because its marker lists the report.
  assert.equal(await main(['report', outDir]), 0);
  assert.equal(await main(['report', outDir]), 0);
  const marker = JSON.parse(await readFile(path.join(outDir, OUTPUT_MARKER), 'utf8')) as { files: string[] };
  assert.ok(marker.files.includes('report.html'));
  await checkOutputTarget(outDir);
  // A user's file at --out is refused and left as it was.
  const mine = path.join(dir, 'notes.html');
  await writeFile(mine, 'my notes');
  assert.equal(await main(['report', outDir, '--out', mine]), 1);
  assert.equal(await readFile(mine, 'utf8'), 'my notes');
  // A user's file dropped into the run folder under the report's name is not flow's either.
  const other = await mkdtempIn(dir);
  await writeFile(path.join(other, 'report.html'), 'mine');
  assert.equal(await main(['report', outDir, '--out', path.join(other, 'report.html')]), 1);
  assert.equal(await readFile(path.join(other, 'report.html'), 'utf8'), 'mine');
});
