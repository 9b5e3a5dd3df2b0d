/**
 * The main job, timed: `pipelines/ldm-sr4x.yaml` run by the engine with the stage cache off and
 * its outputs written to a temporary folder (what `flow run` does from a fresh clone, minus the
 * process start), against a reference measured in the same process: the network work alone, i.e.
 * the job's counted calls (from its run.json summary) times the measured cost of one such call on
 * the embedded LDM at the job's batch size. VIPaint's differentiated calls are of two kinds: the
 * likelihood call of each fit iteration and each refinement step goes through the decoder
 * (x0-prediction at t = 400, decode, squared residual, gradient with respect to z_t), the KL and
 * prior-term calls do not (x0-prediction, squared norm, gradient); their numbers follow from the
 * fit's iterations and the refinement's steps. A plain call is the denoiser forward. The ratio
 * says how much of the job is network work and how much everything else (engine, Adam,
 * operators, sampling steps, metrics, PNG encoding).
 *
 *   node --import tsx bench/main-job.ts [--reps 5]
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { splitBudget } from '../src/solvers/vipaint/budget.js';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/runtime/backend.js';
import { loadPlan } from '../src/graph/plan.js';
import { runPlan } from '../src/runtime/execute.js';
import { loadModel } from '../src/models/build.js';
import { median } from './timing.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repsArg = process.argv.indexOf('--reps');
const reps = repsArg > 0 ? Number(process.argv[repsArg + 1]) : 5;
const backend = await initBackend('wasm');

// 1. The job.
const tmp = await mkdtemp(path.join(os.tmpdir(), 'flow-main-job-'));
const out = path.join(tmp, 'out');
const plan = await loadPlan(path.join(repo, 'pipelines/ldm-sr4x.yaml'));
const c0 = process.cpuUsage();
const t0 = performance.now();
const { summary } = await runPlan(plan, { cache: false, outDir: out }).result;
const jobWall = (performance.now() - t0) / 1000;
const jobCpu = (() => {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
})();
await rm(tmp, { recursive: true, force: true });
let gradient = 0;
let forward = 0;
for (const n of Object.values(summary.nodes)) {
  gradient += n.calls?.gradient ?? 0;
  forward += n.calls?.forward ?? 0;
}
const samples = Number(plan.params['samples'] ?? 4);
const images = summary.nodes['vipaint/fit']?.executions ?? 0;
// One decode per fit iteration and per refinement step: the budget split (docs/method.md).
const split = splitBudget(Number(plan.nodes.get('vipaint/fit')?.params['budget']), 2);
const decoded = images * (split.iterations + split.refineSteps);

// 2. The reference: one call of each kind at the job's batch, median of `reps` after a warm-up.
const model = await loadModel(path.join(repo, 'models/fashion-ldm'));
const prior = model.prior();
const [h, w, c] = prior.latentShape;
const z = tf.randomNormal([samples, h, w, c]) as tf.Tensor4D;
const target = tf.zeros([samples, ...prior.imageShape]) as tf.Tensor4D;
const gradCall = (): void => {
  const g = tf.grad((x: tf.Tensor) =>
    tf.sum(tf.square(tf.sub(prior.decode(prior.denoiser.predictX0(x as tf.Tensor4D, 400)), target))),
  )(z);
  g.dataSync();
  g.dispose();
};
const gradNetCall = (): void => {
  const g = tf.grad((x: tf.Tensor) => tf.sum(tf.square(prior.denoiser.predictX0(x as tf.Tensor4D, 400))))(z);
  g.dataSync();
  g.dispose();
};
const fwdCall = (): void => {
  const x = prior.denoiser.predictX0(z, 400);
  x.dataSync();
  x.dispose();
};
const timeCall = (f: () => void): { wall: number; cpu: number } => {
  f();
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < reps; i++) {
    const cs = process.cpuUsage();
    const ts = performance.now();
    f();
    walls.push((performance.now() - ts) / 1000);
    const cu = process.cpuUsage(cs);
    cpus.push((cu.user + cu.system) / 1e6);
  }
  return { wall: median(walls), cpu: median(cpus) };
};
const g1 = timeCall(gradCall);
const gn = timeCall(gradNetCall);
const f1 = timeCall(fwdCall);
tf.dispose([z, target]);
model.dispose();
const ms = (t: { wall: number; cpu: number }): string =>
  `${(t.wall * 1000).toFixed(0)} (${(t.cpu * 1000).toFixed(0)})`;
const refWall = decoded * g1.wall + (gradient - decoded) * gn.wall + forward * f1.wall;
const refCpu = decoded * g1.cpu + (gradient - decoded) * gn.cpu + forward * f1.cpu;

console.log(
  `backend ${backend.name}; load average ${os
    .loadavg()
    .map((v) => v.toFixed(1))
    .join(' ')}`,
);
console.log(
  `main job (pipelines/ldm-sr4x.yaml, cache off): ${jobWall.toFixed(1)} s wall, ${jobCpu.toFixed(1)} s CPU`,
);
console.log(
  `  network calls: ${gradient} differentiated (${decoded} through the decoder), ${forward} plain (batch ${samples})`,
);
console.log(
  `one call, wall (CPU) ms: differentiated through the decoder ${ms(g1)}, differentiated network only ${ms(gn)}, plain ${ms(f1)}`,
);
console.log(`network work alone: ${refWall.toFixed(1)} s wall, ${refCpu.toFixed(1)} s CPU`);
console.log(
  `ratio job / network work: ${(jobWall / refWall).toFixed(2)} wall, ${(jobCpu / refCpu).toFixed(2)} CPU`,
);
