/**
 * Choosing webgpu, and a pipeline on it end to end: `auto` never takes a software adapter; an
 * explicit webgpu without an adapter it may use fails with one line naming what to install; and
 * `flow run --backend webgpu` (software adapter allowed) samples from the embedded latent prior
 * (one DDIM step, two classes), writes the same PNGs as wasm (to one 8-bit level; measured:
 * identical) and exits by itself.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { initBackend, releaseBackend } from '../../src/runtime/backend.js';
import { REPO } from '../engine/helpers.js';
import { webgpuSkip } from './webgpu-helpers.js';

after(releaseBackend);

test('auto never picks a software adapter, and says why webgpu was not used', async () => {
  releaseBackend(); // the skip probe may have made webgpu current; auto would keep it
  const chosen = await initBackend();
  if (chosen.name === 'webgpu') {
    assert.doesNotMatch(chosen.provider, /software/);
  } else {
    const why = chosen.skipped.find((s) => s.startsWith('webgpu: '));
    assert.ok(why, `skipped: ${chosen.skipped.join(' | ')}`);
    assert.doesNotMatch(why, /\n/);
  }
});

test('an explicit webgpu without a usable adapter fails with one line naming what to install', async () => {
  releaseBackend();
  try {
    const chosen = await initBackend('webgpu', { allowSoftwareGpu: false });
    assert.doesNotMatch(chosen.provider, /software/, 'a hardware adapter only');
    return;
  } catch (e) {
    assert.ok(e instanceof Error);
    assert.match(e.message, /^backend 'webgpu' is not available here: /);
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.message, /libvulkan1/);
    assert.match(e.message, /libegl1 and libegl-mesa0/);
    if (/software adapter/.test(e.message)) assert.match(e.message, /FLOW_WEBGPU_SOFTWARE=1/);
  }
});

const run = promisify(execFile);

/** `flow run` of a tiny sampling job in a child process; resolves when the process has exited. */
async function sampleRun(backend: string, out: string): Promise<{ stderr: string }> {
  const args = [
    ...['--import', 'tsx', path.join(REPO, 'src/cli/bin.ts'), 'run', 'pipelines/sample-fashion-ldm.yaml'],
    ...['--backend', backend, '--out', out, '--no-cache', '--log', 'plain'],
    ...[
      '--set',
      'steps=1',
      '--set',
      'samples=1',
      '--set',
      'draw.classes=[0,3]',
      '--set',
      'save.individual=true',
    ],
  ];
  return run(process.execPath, args, {
    cwd: REPO,
    env: { ...process.env, FLOW_WEBGPU_SOFTWARE: '1' },
    timeout: 300_000, // a process kept alive by the GPU device would be killed here and fail the test
  });
}

async function pixels(file: string): Promise<Buffer> {
  return sharp(file).raw().toBuffer();
}

test(
  'flow run --backend webgpu: a sampling pipeline end to end, as on wasm, and the process exits',
  { skip: webgpuSkip },
  async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'flow-webgpu-run-'));
    try {
      const [gpu, wasm] = [path.join(tmp, 'webgpu'), path.join(tmp, 'wasm')];
      const gpuRun = await sampleRun('webgpu', gpu);
      assert.match(gpuRun.stderr, /on backend webgpu \(@tensorflow\/tfjs-backend-webgpu, /);
      await sampleRun('wasm', wasm);
      const files = readdirSync(path.join(wasm, 'result')).filter((f) => f.startsWith('sample-'));
      assert.deepEqual(files, ['sample-00.png', 'sample-01.png']);
      assert.deepEqual(
        readdirSync(path.join(gpu, 'result')).sort(),
        readdirSync(path.join(wasm, 'result')).sort(),
      );
      for (const f of files) {
        const [a, b] = await Promise.all([
          pixels(path.join(gpu, 'result', f)),
          pixels(path.join(wasm, 'result', f)),
        ]);
        assert.equal(a.length, b.length);
        let max = 0;
        for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
        assert.ok(max <= 1, `${f}: webgpu and wasm differ by ${max} levels`);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  },
);
