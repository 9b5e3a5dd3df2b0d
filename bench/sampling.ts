/**
 * Sampling time per image of the embedded priors: the LDM with DDIM 50 steps and the pixel EDM
 * model with Heun 18 steps (35 network calls), class-conditional with guidance 2, on the wasm and
 * cpu backends, batch 4 (wasm) and batch 1 (cpu, which is far slower). Process CPU time and wall
 * time per image; the ratio cpu/wasm is the comparison in one process.
 *
 *   node --import tsx bench/sampling.ts [--backends wasm,cpu]
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName } from '../src/runtime/backend.js';
import { loadModel } from '../src/models/build.js';
import { Rng } from '../src/util/random.js';
import { sampleDdimAsync, sampleEdmAsync } from '../src/sampling/sample.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = process.argv.indexOf('--backends');
const backends = (arg > 0 ? (process.argv[arg + 1] ?? 'wasm,cpu') : 'wasm,cpu').split(',') as BackendName[];

async function timeIt(f: () => Promise<tf.Tensor>): Promise<{ cpu: number; wall: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = await f();
  await out.data();
  out.dispose();
  const c = process.cpuUsage(c0);
  return { cpu: (c.user + c.system) / 1000, wall: performance.now() - t0 };
}

const results: Record<string, Record<string, number>> = {};
for (const backend of backends) {
  await initBackend(backend);
  const batch = backend === 'cpu' ? 1 : 4;
  const labels = Array.from({ length: batch }, (_, i) => i % 10);
  for (const [name, run] of [
    [
      'fashion-ldm DDIM 50',
      async () => {
        const m = await loadModel(path.join(repo, 'models/fashion-ldm'));
        const d = m.denoiser as NonNullable<typeof m.denoiser>;
        // Warm-up call (kernel setup, cached derived weights), then the timed run.
        await (await sampleDdimAsync(d, { rng: new Rng(0), shape: [1, 8, 8, 4], steps: 1 })).dispose();
        const t = await timeIt(async () => {
          const z = await sampleDdimAsync(d, {
            rng: new Rng(1),
            shape: [batch, 8, 8, 4],
            steps: 50,
            labels,
            guidanceScale: 2,
          });
          const x = m.prior().decode(z);
          z.dispose();
          return x;
        });
        m.dispose();
        return t;
      },
    ],
    [
      'fashion-edm Heun 18',
      async () => {
        const m = await loadModel(path.join(repo, 'models/fashion-edm'));
        const d = m.denoiser as NonNullable<typeof m.denoiser>;
        await (await sampleEdmAsync(d, { rng: new Rng(0), shape: [1, 32, 32, 1], steps: 1 })).dispose();
        const t = await timeIt(() =>
          sampleEdmAsync(d, {
            rng: new Rng(1),
            shape: [batch, 32, 32, 1],
            steps: 18,
            labels,
            guidanceScale: 2,
          }),
        );
        m.dispose();
        return t;
      },
    ],
  ] as [string, () => Promise<{ cpu: number; wall: number }>][]) {
    const t = await run();
    const perImage = { cpu: t.cpu / batch, wall: t.wall / batch };
    (results[name] ??= {})[backend] = perImage.cpu;
    console.log(
      `${backend.padEnd(5)} ${name.padEnd(22)} batch ${batch}: ${(perImage.cpu / 1000).toFixed(2)} s CPU, ${(perImage.wall / 1000).toFixed(2)} s wall per image`,
    );
  }
}
for (const [name, r] of Object.entries(results)) {
  if (r.wasm && r.cpu)
    console.log(`${name}: cpu / wasm = ${(r.cpu / r.wasm).toFixed(1)}x (CPU time per image)`);
}
