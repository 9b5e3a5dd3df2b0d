/**
 * A comparison figure for one image of a study run: the grids that the study's `save` nodes
 * wrote for each method (truth, measurement, mask, the N samples), stacked top to bottom with the
 * method's name on the left.
 *
 *   node --import tsx scripts/study/figure.ts <run-dir> <item> --out figure.png [--methods vipaint2,dps,...]
 *
 * <run-dir> is one run's output folder (e.g. study-out/rotated/test-0000-0005), <item> an image
 * key in it (test-00000); by default every method with a grid for that item, VIPaint first.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const [runDir, item] = args;
const out = option('out');
if (!runDir || !item || !out) {
  console.error('usage: figure.ts <run-dir> <item> --out figure.png [--methods a,b,...]');
  process.exit(2);
}
const gridOf = (method: string): string => path.join(runDir, method, item, 'grid.png');
const listed = option('methods')?.split(',');
const found = (await readdir(runDir, { withFileTypes: true }))
  .filter((d) => d.isDirectory() && existsSync(gridOf(d.name)))
  .map((d) => d.name)
  .sort((a, b) => Number(b.startsWith('vipaint')) - Number(a.startsWith('vipaint')) || (a < b ? -1 : 1));
const methods = listed ?? found;
for (const m of methods) {
  if (!existsSync(gridOf(m))) {
    console.error(`figure: no grid for method '${m}' and item '${item}' (${gridOf(m)})`);
    process.exit(1);
  }
}
if (methods.length === 0) {
  console.error(`figure: no method folder in ${runDir} has a grid for '${item}'`);
  process.exit(1);
}

const LABEL_WIDTH = 110;
const grids = await Promise.all(methods.map(async (m) => ({ m, meta: await sharp(gridOf(m)).metadata() })));
const width = Math.max(...grids.map((g) => g.meta.width ?? 0)) + LABEL_WIDTH;
const heights = grids.map((g) => g.meta.height ?? 0);
const height = heights.reduce((a, b) => a + b, 0);
const composites: sharp.OverlayOptions[] = [];
let top = 0;
for (const [i, g] of grids.entries()) {
  const h = heights[i] as number;
  const label = `<svg width="${LABEL_WIDTH}" height="${h}"><text x="8" y="${Math.round(h / 2) + 6}" font-family="sans-serif" font-size="17">${g.m}</text></svg>`;
  composites.push({ input: Buffer.from(label), top, left: 0 });
  composites.push({ input: gridOf(g.m), top, left: LABEL_WIDTH });
  top += h;
}
await sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
  .composite(composites)
  .png()
  .toFile(out);
console.log(`${out}: ${methods.join(', ')} for ${item}`);
