/**
 * Mask files: `flow validate` fails when one is missing, and a mask whose size differs from the
 * images is refused unless `resizeMask: true` asks for resizing (it used to be stretched silently).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { loadPlan } from '../../src/graph/plan.js';
import { runPlan } from '../../src/runtime/execute.js';
import { initBackend } from '../../src/runtime/backend.js';
import { REPO, tempDir } from '../engine/helpers.js';
import { flow, lines } from '../cli/run-flow.js';

await initBackend('wasm');
const MASK = path.join(REPO, 'assets/masks/center-box-64.png'); // 64 x 64

const pipe = (size: number, mask: string, extra = '') => `version: 1
name: m
nodes:
  img: { type: load, params: { path: ${path.join(REPO, 'assets/images/64/camera.png')}, size: ${size} } }
  m: { type: measure.inpaint, inputs: { image: img.image }, params: { mask: file, maskPath: '${mask}'${extra} } }
`;

test('flow validate fails on a missing mask file, naming it', async () => {
  const dir = await tempDir();
  await writeFile(path.join(dir, 'p.yaml'), pipe(64, 'no-such-mask.png'));
  const r = await flow(['validate', path.join(dir, 'p.yaml')]);
  assert.equal(r.code, 1, r.stdout);
  assert.equal(lines(r.stderr).length, 1, r.stderr);
  assert.match(
    r.stderr,
    /node 'm' \(measure\.inpaint\): mask file '.*no-such-mask\.png' does not exist or cannot be read/,
  );
});

test('a mask of another size is refused unless resizeMask asks for it', async () => {
  const dir = await tempDir();
  await writeFile(path.join(dir, 'small.yaml'), pipe(32, MASK));
  await assert.rejects(
    runPlan(await loadPlan(path.join(dir, 'small.yaml')), { cache: false }).result,
    /mask file '.*center-box-64\.png' is 64x64 but the images are 32x32; set resizeMask: true to resize it/,
  );
  await writeFile(path.join(dir, 'resized.yaml'), pipe(32, MASK, ', resizeMask: true'));
  const r = await runPlan(await loadPlan(path.join(dir, 'resized.yaml')), { cache: false, keep: ['m.mask'] })
    .result;
  assert.deepEqual((r.outputs['m.mask']?.get('camera') as tf.Tensor).shape, [1, 32, 32, 1]);
  await writeFile(path.join(dir, 'same.yaml'), pipe(64, MASK));
  await runPlan(await loadPlan(path.join(dir, 'same.yaml')), { cache: false }).result;
});
