/**
 * Loss-curve SVGs: the CSV parser (empty cells, errors with line numbers) and the plot's
 * geometry: every point lands where the axis maps say, on a log axis for positive losses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lossCurveSvg, parseLossCsv } from '../../src/report/loss-plot.js';

const CSV = 'step,minutes,loss,grad_norm\n50,0.1,1.0,\n100,0.2,0.1,2\n150,0.3,0.01,3\n';

test('parseLossCsv reads empty cells as NaN and names bad cells by line', () => {
  const t = parseLossCsv(CSV);
  assert.deepEqual(t.columns, ['step', 'minutes', 'loss', 'grad_norm']);
  assert.equal(t.rows.length, 3);
  assert.ok(Number.isNaN(t.rows[0]?.[3]));
  assert.throws(
    () => parseLossCsv('step,loss\n1,x\n', 'f.csv'),
    /^Error: f\.csv:2: 'x' in column 'loss' is not a number$/,
  );
  assert.throws(() => parseLossCsv('step,loss\n1,2,3\n', 'f.csv'), /f\.csv:2: 3 cells for 2 columns/);
});

test('lossCurveSvg draws each series on a log axis: decades are evenly spaced', () => {
  const svg = lossCurveSvg(parseLossCsv(CSV), { series: ['loss'], title: 'a < b', width: 400, height: 200 });
  assert.match(svg, /^<svg xmlns/);
  assert.match(svg, /a &lt; b/);
  const points = /<polyline[^>]*points="([^"]+)"/
    .exec(svg)?.[1]
    ?.split(' ')
    .map((p) => p.split(',').map(Number));
  assert.equal(points?.length, 3);
  const [a, b, c] = points as [number[], number[], number[]];
  // x: 50..150 evenly; y: 1, 0.1, 0.01 one decade apart, so equal vertical steps.
  assert.ok(Math.abs((b[0] as number) - (a[0] as number) - ((c[0] as number) - (b[0] as number))) < 0.2);
  assert.ok(Math.abs((b[1] as number) - (a[1] as number) - ((c[1] as number) - (b[1] as number))) < 0.2);
  assert.ok((a[1] as number) < (c[1] as number), 'larger losses are drawn higher');
  // Without series given, every column but step and minutes is drawn (grad_norm skips its empty cell).
  assert.equal((lossCurveSvg(parseLossCsv(CSV)).match(/<polyline/g) ?? []).length, 2);
  assert.throws(() => lossCurveSvg(parseLossCsv(CSV), { series: ['nope'] }), /no column 'nope'/);
});
