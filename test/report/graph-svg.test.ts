/** `flow graph --format svg`: Graphviz (wasm, in process) draws the checked graph as a picture. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { loadPlan } from '../../src/graph/plan.js';
import { toDot } from '../../src/graph/graph.js';
import { dotToSvg, svgElement } from '../../src/report/graph-svg.js';
import { REPO, tempDir } from '../engine/helpers.js';

const PIPELINE = path.join(REPO, 'pipelines/measure-demo.yaml');

test('the SVG has one box per node, one arrow per edge, and rasterises', async () => {
  const plan = await loadPlan(PIPELINE);
  const svg = await dotToSvg(toDot(plan.nodes, plan.graph));
  const titles = [...svg.matchAll(/<g id="node\d+" class="node">\s*<title>([^<]+)<\/title>/g)].map(
    (m) => (m[1] as string).replaceAll('&#45;', '-'), // Graphviz escapes '-' in titles
  );
  assert.deepEqual(titles.sort(), [...plan.nodes.keys()].sort());
  assert.equal([...svg.matchAll(/class="edge"/g)].length, plan.graph.size);
  assert.match(svg, /class="cluster"/, 'included chains drawn as clusters');
  const png = await sharp(Buffer.from(svg)).png().toBuffer({ resolveWithObject: true });
  assert.ok(png.info.width > 300 && png.info.height > 300, `${png.info.width}x${png.info.height}`);
  assert.ok(svgElement(svg).startsWith('<svg') && !svgElement(svg).includes('<!DOCTYPE'));
  await assert.rejects(dotToSvg('digraph { a -> '), /^Error: graphviz: syntax error in line 1/);
});

test('flow graph --format svg --out FILE writes the picture, and never replaces a file', async () => {
  const out = path.join(await tempDir(), 'g.svg');
  const graphSvg = () =>
    promisify(execFile)(process.execPath, [
      '--import',
      'tsx',
      path.join(REPO, 'src/cli/bin.ts'),
      'graph',
      PIPELINE,
      '--format',
      'svg',
      '--out',
      out,
    ]);
  await graphSvg();
  const svg = await readFile(out, 'utf8');
  assert.match(svg, /<svg width="\d+pt" height="\d+pt"/);
  assert.match(svg, /<title>sr&#45;eval\/score<\/title>/);
  // Again onto the same file: refused (flow cannot tell it wrote that file), the file kept.
  const again = await graphSvg().then(
    () => undefined,
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(again?.code, 1);
  assert.match(
    again?.stderr ?? '',
    /^flow: '.*g\.svg' exists and flow did not write it; choose another file with --out FILE\n$/,
  );
  assert.equal(await readFile(out, 'utf8'), svg);
});
