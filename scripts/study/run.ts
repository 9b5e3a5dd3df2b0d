/**
 * Runs one task of the quality study over a range of Fashion-MNIST test images in chunks, one
 * `flow run` per chunk, so that a stopped study loses at most the chunk in progress (and that one
 * only partly: its finished stages are in the stage cache). Chunks whose run.json exists are
 * skipped, so the same command resumes; because `load` keeps the selection out of its cache keys,
 * a chunk repeated with the same cache is served from it.
 *
 *   node --import tsx scripts/study/run.ts <rotated|random|sr4x> [--images 0:50] [--chunk 5]
 *        [--out study-out] [--cache-dir study-out/cache] [--backend wasm]
 *
 * Each chunk writes <out>/<task>/test-<a>-<b>/ (grids, run.json); tabulate all of them with
 * `scripts/study/summarize.ts <out>/<task>/*\/run.json`, which merges the chunks of one task.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO, STUDY_TASKS } from './tasks.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
};
const task = args[0] ?? '';
const spec = STUDY_TASKS[task];
if (!spec) {
  console.error(
    `usage: run.ts <${Object.keys(STUDY_TASKS).join('|')}> [--images 0:50] [--chunk 5] [--out dir]`,
  );
  process.exit(2);
}
const range = /^(\d+):(\d+)$/.exec(option('images', '0:50'));
const chunk = Number(option('chunk', '5'));
if (!range || !(chunk >= 1) || Number(range[1]) >= Number(range[2])) {
  console.error(`run.ts: --images must be start:stop with start < stop, --chunk a positive integer`);
  process.exit(2);
}
const out = path.resolve(option('out', 'study-out'));
const cacheDir = path.resolve(option('cache-dir', path.join(out, 'cache')));
const backend = option('backend', '');
const pad = (i: number): string => String(i).padStart(4, '0');

for (let start = Number(range[1]); start < Number(range[2]); start += chunk) {
  const stop = Math.min(start + chunk, Number(range[2]));
  const dir = path.join(out, task, `test-${pad(start)}-${pad(stop)}`);
  if (existsSync(path.join(dir, 'run.json'))) {
    console.log(`${task} test[${start}:${stop}]: done before, skipped`);
    continue;
  }
  const t0 = Date.now();
  const cli = [
    path.join(REPO, 'bin/flow.js'),
    'run',
    path.join(REPO, spec.pipeline),
    '--set',
    `images=fashion-mnist:test[${start}:${stop}]`,
    ...spec.sets.flatMap((s) => ['--set', s]),
    '--out',
    dir,
    '--cache-dir',
    cacheDir,
    '--log',
    'plain',
    ...(backend ? ['--backend', backend] : []),
  ];
  const result = spawnSync(process.execPath, cli, { stdio: ['ignore', 'ignore', 'inherit'] });
  if (result.status !== 0) {
    console.error(`${task} test[${start}:${stop}]: flow run failed (exit ${result.status ?? result.signal})`);
    process.exit(1);
  }
  console.log(`${task} test[${start}:${stop}]: ${((Date.now() - t0) / 1000).toFixed(0)} s -> ${dir}`);
}
