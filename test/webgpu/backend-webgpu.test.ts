/**
 * Choosing webgpu, and pipelines on it end to end: `auto` never takes a software adapter; an
 * explicit webgpu without an adapter it may use fails with one line naming what to install; and
 * `flow run --backend webgpu` (software adapter allowed) runs class-guided sampling from the
 * embedded latent prior (one DDIM step, two classes) and the main job shortened (one image, one
 * fit iteration, one refinement step, two samples), writes the same PNGs as wasm (to one 8-bit
 * level; measured: identical) and the same metrics (relative 1e-4; measured: ~1e-6), and exits by
 * itself (a child process kept alive would time out).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
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

const execFileAsync = promisify(execFile);

/** `flow run` in a child process (software webgpu allowed); resolves when the process has exited. */
async function flowRun(backend: string, pipeline: string, out: string, sets: string[]): Promise<string> {
  const args = [
    ...['--import', 'tsx', path.join(REPO, 'src/cli/bin.ts'), 'run', pipeline],
    ...['--backend', backend, '--out', out, '--no-cache', '--log', 'plain'],
    ...sets.flatMap((s) => ['--set', s]),
  ];
  const { stderr } = await execFileAsync(process.execPath, args, {
    cwd: REPO,
    env: { ...process.env, FLOW_WEBGPU_SOFTWARE: '1' },
    timeout: 300_000, // a process kept alive by the GPU device would be killed here and fail the test
  });
  return stderr;
}

/** The same files in both output folders, and every PNG within one 8-bit level. */
async function assertSameImages(gpu: string, wasm: string): Promise<void> {
  const list = (d: string): string[] => readdirSync(d, { recursive: true, encoding: 'utf8' }).sort();
  const files = list(wasm);
  assert.deepEqual(list(gpu), files);
  const pngs = files.filter((f) => f.endsWith('.png'));
  assert.ok(pngs.length > 0);
  for (const f of pngs) {
    const [a, b] = await Promise.all([gpu, wasm].map((d) => sharp(path.join(d, f)).raw().toBuffer()));
    assert.ok(a && b && a.length === b.length, f);
    let max = 0;
    for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
    assert.ok(max <= 1, `${f}: webgpu and wasm differ by ${max} levels`);
  }
}

/** Run `pipeline` on webgpu and on wasm into a temporary folder; `check` compares the outputs. */
async function onBoth(
  pipeline: string,
  sets: string[],
  check: (gpu: string, wasm: string) => Promise<void>,
): Promise<void> {
  const tmp = mkdtempSync(path.join(tmpdir(), 'flow-webgpu-run-'));
  try {
    const [gpu, wasm] = [path.join(tmp, 'webgpu'), path.join(tmp, 'wasm')];
    const stderr = await flowRun('webgpu', pipeline, gpu, sets);
    assert.match(stderr, /on backend webgpu \(@tensorflow\/tfjs-backend-webgpu, /);
    await flowRun('wasm', pipeline, wasm, sets);
    await assertSameImages(gpu, wasm);
    await check(gpu, wasm);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

test(
  'flow run --backend webgpu: class-guided sampling end to end, as on wasm, and the process exits',
  { skip: webgpuSkip },
  async () => {
    const sets = ['steps=1', 'samples=1', 'draw.classes=[0,3]', 'save.individual=true'];
    await onBoth('pipelines/sample-fashion-ldm.yaml', sets, async (gpu) => {
      assert.deepEqual(readdirSync(path.join(gpu, 'result')).sort(), [
        'grid.png',
        'sample-00.png',
        'sample-01.png',
      ]);
    });
  },
);

type Metrics = Record<string, Record<string, Record<string, number>>>;

test(
  'flow run --backend webgpu: the main job (VIPaint, 4x super-resolution) shortened, as on wasm',
  { skip: webgpuSkip },
  async () => {
    const sets = ['samples=2', 'budget=6', 'input/images.path=fashion-mnist:test[0:1]'];
    await onBoth('pipelines/ldm-sr4x.yaml', sets, async (gpu, wasm) => {
      const read = async (d: string): Promise<Metrics> =>
        (JSON.parse(await readFile(path.join(d, 'run.json'), 'utf8')) as { metrics: Metrics }).metrics;
      const [a, b] = await Promise.all([read(gpu), read(wasm)]);
      const names = Object.keys(b['evaluate/score']?.['test-00000'] ?? {});
      assert.ok(
        names.includes('psnr_mean') &&
          Object.keys(b['vipaint/fit']?.['test-00000'] ?? {}).includes('fit_loss'),
      );
      for (const [node, items] of Object.entries(b)) {
        for (const [item, values] of Object.entries(items)) {
          for (const [name, want] of Object.entries(values)) {
            const got = a[node]?.[item]?.[name] as number;
            assert.ok(
              Math.abs(got - want) <= 1e-4 * Math.max(1, Math.abs(want)),
              `${node} ${item} ${name}: webgpu ${got}, wasm ${want}`,
            );
          }
        }
      }
    });
  },
);
