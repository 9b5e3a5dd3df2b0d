/** The documented examples keep working: a plugin node in a pipeline, and the library script. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadPlan } from '../src/graph/plan.js';
import { runPlan } from '../src/runtime/execute.js';
import { initBackend } from '../src/runtime/backend.js';
import { REPO } from './engine/helpers.js';

test('examples/custom-node.yaml runs its plugin node between built-ins', async () => {
  await initBackend('wasm');
  const plan = await loadPlan(path.join(REPO, 'examples/custom-node.yaml'), { overrides: ['gamma=1'] });
  assert.equal(plan.nodes.get('corrected')?.type, 'example.gamma');
  const { outputs } = await runPlan(plan, {
    cache: false,
    keep: ['score.metrics', 'corrected.image', 'images.image'],
  }).result;
  const m = outputs['score.metrics']?.get('camera') as { psnr_mean: number; ssim_mean: number };
  // gamma = 1 is the identity up to float rounding: PSNR huge, SSIM 1.
  assert.ok(m.psnr_mean > 100, `psnr ${m.psnr_mean}`);
  assert.ok(Math.abs(m.ssim_mean - 1) < 1e-6);
  tf.dispose([
    ...(outputs['corrected.image']?.values() ?? []),
    ...(outputs['images.image']?.values() ?? []),
  ] as tf.Tensor[]);
});

test('examples/library.ts runs and reports metrics', async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', path.join(REPO, 'examples/library.ts')],
    {
      cwd: REPO,
    },
  );
  assert.match(stdout, /camera PSNR of 2x bicubic upsampling: \d+\.\d\d dB/);
  assert.match(stdout, /24 files produced in memory/);
});
