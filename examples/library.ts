/**
 * Using flow as a library: load and check a pipeline, run it with an override, watch its events
 * as an RxJS Observable, and take outputs back (the caller then owns their tensors).
 *
 *   node --import tsx examples/library.ts
 */
import * as tf from '@tensorflow/tfjs';
import { filter } from 'rxjs';
import { initBackend, loadPipeline, runPipeline } from '../src/index.js';

await initBackend(); // best available: tensorflow, else wasm, else cpu
const plan = await loadPipeline(new URL('../pipelines/measure-demo.yaml', import.meta.url).pathname, {
  overrides: ['mask=random', 'sr.factor=2'],
});
const run = runPipeline(plan, { keep: ['sr-eval/score.metrics', 'sr.measurement'] });
run.events$.pipe(filter((e) => e.type === 'node-done' && e.node === 'sr-eval/score')).subscribe((e) => {
  if (e.type === 'node-done') console.log(`scored ${e.item}`);
});
const { outputs, summary } = await run.result;
for (const [item, m] of outputs['sr-eval/score.metrics'] ?? []) {
  console.log(
    item,
    'PSNR of 2x bicubic upsampling:',
    (m as { psnr_mean: number }).psnr_mean.toFixed(2),
    'dB',
  );
}
for (const t of (outputs['sr.measurement'] ?? new Map()).values()) (t as tf.Tensor).dispose();
console.log(
  `done in ${summary.ms} ms on ${summary.backend.name}; ${summary.files.length} files produced in memory`,
);
