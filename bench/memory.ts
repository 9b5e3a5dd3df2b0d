/**
 * Tensor count and wasm memory through a long VIPaint run on the embedded latent prior: 50
 * Fashion-MNIST test images through ldm-inpaint (short fit and refinement, so it runs in minutes),
 * sampling tf.memory() each time an image finishes. Flat means no per-image leak.
 *
 *   node --import tsx bench/memory.ts [images=50]   (needs the dataset: bash scripts/setup-system.sh)
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/runtime/backend.js';
import { loadPlan } from '../src/graph/plan.js';
import { runPlan } from '../src/runtime/execute.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const n = Number(process.argv[2] ?? 50);
await initBackend('wasm');
const plan = await loadPlan(path.join(repo, 'pipelines/ldm-inpaint.yaml'), {
  overrides: [`input/images.path=fashion-mnist:test[0:${n}]`, 'iterations=3', 'refineSteps=3', 'samples=2'],
});
const before = tf.memory();
const samples: { tensors: number; bytes: number }[] = [];
const handle = runPlan(plan, { cache: false });
handle.events$.subscribe((e) => {
  if (e.type === 'node-done' && e.node === 'evaluate/save') {
    const m = tf.memory();
    samples.push({ tensors: m.numTensors, bytes: m.numBytes });
  }
});
const t0 = performance.now();
await handle.result;
const after = tf.memory();
const tensors = samples.map((s) => s.tensors);
const half = Math.floor(tensors.length / 2);
console.log(`${samples.length} images in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
console.log(`tensors before ${before.numTensors}, after ${after.numTensors}`);
console.log(
  `live tensors at image completions: first half max ${Math.max(...tensors.slice(0, half))}, second half max ${Math.max(...tensors.slice(half))}, min ${Math.min(...tensors)}`,
);
console.log(
  `tensor bytes at completions: first ${(samples[0]?.bytes ?? 0) / 1e6} MB, last ${(samples[samples.length - 1]?.bytes ?? 0) / 1e6} MB`,
);
