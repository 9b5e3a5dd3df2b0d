/**
 * LPIPS for a finished study task, from its stage cache: the study pipeline is run again with the
 * same images and settings, every solver stage is served from the cache (the run is aborted if
 * any solver would compute), and the LPIPS (SqueezeNet) distance of every sample to its true
 * image is taken for each method. Prints mean +- standard error over images (the mean over an
 * image's samples first) and the paired difference to DPS; `--json` writes the per-image values.
 *
 *   node --import tsx scripts/study/lpips.ts <rotated|random|sr4x> --lpips <model folder>
 *        [--images 0:50] [--cache-dir /work/study/cache] [--json out.json]
 *
 * The LPIPS folder comes from `flow import-lpips` (the official weights are not shipped).
 */
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { REPO, STUDY_TASKS } from './tasks.js';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/runtime/backend.js';
import { loadPlan } from '../../src/graph/plan.js';
import { runPlan } from '../../src/runtime/execute.js';
import { StageCache } from '../../src/runtime/cache.js';
import { loadModel } from '../../src/models/build.js';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const task = args[0] ?? '';
const spec = STUDY_TASKS[task];
const lpipsDir = option('lpips');
if (!spec || !lpipsDir) {
  console.error(
    `usage: lpips.ts <${Object.keys(STUDY_TASKS).join('|')}> --lpips <folder> [--images 0:50] [--cache-dir dir] [--json out]`,
  );
  process.exit(2);
}
const images = option('images') ?? '0:50';
const cacheDir = path.resolve(option('cache-dir') ?? 'study-out/cache');

await initBackend('wasm');
const plan = await loadPlan(path.join(REPO, spec.pipeline), {
  overrides: [`images=fashion-mnist:test[${images}]`, ...spec.sets],
});
// Methods: each score-<method>/score metric node, with the samples and the truth it compares.
const methods = [...plan.nodes.values()]
  .filter((n) => n.type === 'metric' && /^score-[^/]+\/score$/.test(n.id))
  .map((n) => {
    const image = n.inputs['image'];
    const truth = n.inputs['reference'];
    if (!image || !truth) throw new Error(`${n.id}: image or reference not wired`);
    return {
      name: n.id.slice('score-'.length, -'/score'.length),
      image: `${image.node}.${image.port}`,
      truth: `${truth.node}.${truth.port}`,
    };
  });
// A method's solver is a node or an include group ('vipaint2/refine' -> group 'vipaint2').
const solverGroups = new Set(methods.map((m) => m.image.split(/[./]/)[0]));
const handle = runPlan(plan, {
  cache: new StageCache({ dir: cacheDir }),
  keep: [...new Set(methods.flatMap((m) => [m.image, m.truth]))],
});
let refused = '';
handle.events$.subscribe((e) => {
  // Progress comes only from computing stages: a solver doing work means the cache lacks it.
  if (e.type === 'progress' && !refused && solverGroups.has(e.node.split('/')[0])) {
    refused = `${e.node} (${e.item ?? ''}) is not in the cache at ${cacheDir}; run scripts/study/run.ts first`;
    handle.abort();
  }
});
const result = await handle.result.catch((e: unknown) => {
  throw new Error(refused || (e instanceof Error ? e.message : String(e)));
});
if (refused) throw new Error(refused);

const model = await loadModel(path.resolve(lpipsDir));
const net = model.perceptual;
if (!net) throw new Error(`${lpipsDir}: not a perceptual (LPIPS) model`);
const perImage: Record<string, Record<string, number>> = {};
for (const m of methods) {
  const samples = result.outputs[m.image];
  const truths = result.outputs[m.truth];
  if (!samples || !truths) throw new Error(`${m.name}: outputs missing`);
  perImage[m.name] = {};
  for (const [key, value] of samples) {
    const x = value as tf.Tensor4D;
    const t = truths.get(key) as tf.Tensor4D;
    const d = tf.tidy(() => tf.mean(net.distance(x, t)));
    (perImage[m.name] as Record<string, number>)[key] = (await d.data())[0] as number;
    d.dispose();
  }
}
const stats = (v: number[]): { mean: number; se: number } => {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, v.length - 1));
  return { mean, se: sd / Math.sqrt(v.length) };
};
const keys = Object.keys(perImage['dps'] ?? perImage[methods[0]?.name ?? ''] ?? {}).sort();
console.log(
  `${task}, test[${images}], ${keys.length} images: LPIPS (SqueezeNet, lower is better), mean +- s.e.`,
);
console.log('| method | LPIPS | minus DPS (paired) |\n| --- | --- | --- |');
for (const m of methods) {
  const v = keys.map((k) => perImage[m.name]?.[k] as number);
  const s = stats(v);
  const dps = perImage['dps'];
  const diff =
    dps && m.name !== 'dps' ? stats(keys.map((k, i) => (v[i] as number) - (dps[k] as number))) : undefined;
  console.log(
    `| ${m.name} | ${s.mean.toFixed(4)} +- ${s.se.toFixed(4)} | ${diff ? `${diff.mean >= 0 ? '+' : ''}${diff.mean.toFixed(4)} +- ${diff.se.toFixed(4)}` : ''} |`,
  );
}
const jsonOut = option('json');
if (jsonOut)
  await writeFile(
    jsonOut,
    JSON.stringify({ task, images, lpips: model.manifest.source, perImage }, null, 1) + '\n',
  );
