/**
 * The seam between flow pull and the presets: a known repo's checkpoint, once pulled, is handed to
 * `convertWithPreset(preset, files, outDir)` with the store's converted folder, once per commit.
 * The converter here is a test double that records its calls and writes a model.yaml: the presets
 * themselves are tested on their own branch; the download in front of it is the real one.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import os from 'node:os';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { HubClient } from '../../src/hub/hub-client.js';
import { pull } from '../../src/hub/pull.js';
import { parseRepoRef } from '../../src/hub/repo-ref.js';
import { ModelStore } from '../../src/hub/store.js';
import { convertAfterPull } from '../../src/hub/convert-after-pull.js';
import { knownRepo } from '../../src/hub/known-repos.js';
import { startFakeHub, type FakeHub } from './fake-hub.js';

const SHA = 'c'.repeat(40);
const VAE = 'stabilityai/sd-vae-ft-mse-original';
let hub: FakeHub;
let store: ModelStore;
let scratch: string;

before(async () => {
  hub = await startFakeHub({
    [VAE]: {
      refs: { main: SHA },
      commits: {
        [SHA]: {
          'vae-ft-mse-840000-ema-pruned.safetensors': Buffer.alloc(4096, 7),
          'README.md': Buffer.from('# vae\n'),
        },
      },
    },
    'CompVis/stable-diffusion-v1-4': {
      refs: { main: SHA },
      commits: {
        [SHA]: {
          'model_index.json': Buffer.from('{"_class_name":"StableDiffusionPipeline"}\n'),
          'unet/config.json': Buffer.from('{}\n'),
          'unet/diffusion_pytorch_model.safetensors': Buffer.alloc(3000, 1),
          'unet/diffusion_pytorch_model.fp16.safetensors': Buffer.alloc(1500, 1),
          'unet/diffusion_pytorch_model.bin': Buffer.alloc(3000, 4),
          'vae/config.json': Buffer.from('{}\n'),
          'vae/diffusion_pytorch_model.safetensors': Buffer.alloc(2000, 2),
          'text_encoder/model.safetensors': Buffer.alloc(5000, 3),
        },
      },
    },
    'org/other': { refs: { main: SHA }, commits: { [SHA]: { 'w.bin': Buffer.alloc(64, 1) } } },
  });
  scratch = await mkdtemp(path.join(os.tmpdir(), 'flow-convert-pull-'));
  store = new ModelStore(scratch);
});
after(async () => {
  await hub.close();
  await rm(scratch, { recursive: true, force: true });
});

test('a pulled known repo is converted once per commit with its preset, into the store', async () => {
  const client = new HubClient({ endpoint: hub.endpoint });
  const known = knownRepo('StabilityAI/SD-VAE-ft-mse-original');
  assert.equal(known?.preset, 'sd-v1-vae', 'repo ids match case-insensitively');
  const pulled = await pull({ ref: parseRepoRef(VAE), store, client, include: known?.include });
  const calls: { preset: string; files: readonly string[]; out: string }[] = [];
  const double = async (preset: string, files: readonly string[], out: string): Promise<void> => {
    calls.push({ preset, files, out });
    await mkdir(out, { recursive: true });
    await writeFile(path.join(out, 'model.yaml'), 'name: test\n');
  };
  const folder = store.convertedDir(VAE, SHA, 'sd-v1-vae');
  assert.deepEqual(await convertAfterPull(pulled, store, double), {
    kind: 'converted',
    preset: 'sd-v1-vae',
    folder,
    reused: false,
  });
  assert.deepEqual(calls, [
    {
      preset: 'sd-v1-vae',
      files: [path.join(pulled.snapshot, 'vae-ft-mse-840000-ema-pruned.safetensors')],
      out: folder,
    },
  ]);
  const again = await convertAfterPull(pulled, store, double);
  assert.equal(again.kind === 'converted' && again.reused, true);
  assert.equal(calls.length, 1, 'an existing conversion is reused, not redone');

  assert.deepEqual(await convertAfterPull(pulled, store, undefined), {
    kind: 'by-hand',
    preset: 'sd-v1-vae',
    command: `flow convert ${path.join(pulled.snapshot, 'vae-ft-mse-840000-ema-pruned.safetensors')} --preset sd-v1-vae --out ${folder}`,
  });
  const readmeOnly = await pull({ ref: parseRepoRef(VAE), store, client, include: ['README.md'] });
  assert.deepEqual(await convertAfterPull(readmeOnly, store, double), {
    kind: 'not-pulled',
    preset: 'sd-v1-vae',
    missing: ['vae-ft-mse-840000-ema-pruned.safetensors'],
  });
  const other = await pull({ ref: parseRepoRef('org/other'), store, client });
  assert.deepEqual(await convertAfterPull(other, store, double), { kind: 'no-preset' });
  assert.equal(calls.length, 1);
});

test('a diffusers repo is fetched without its other variants and converted from the snapshot folder', async () => {
  const client = new HubClient({ endpoint: hub.endpoint });
  const repo = 'CompVis/stable-diffusion-v1-4';
  const known = knownRepo(repo);
  const pulled = await pull({ ref: parseRepoRef(repo), store, client, include: known?.include });
  assert.deepEqual(pulled.files.map((f) => f.path).sort(), [
    'unet/config.json',
    'unet/diffusion_pytorch_model.safetensors',
    'vae/config.json',
    'vae/diffusion_pytorch_model.safetensors',
  ]);
  const calls: [string, readonly string[], string][] = [];
  const double = async (preset: string, files: readonly string[], out: string): Promise<void> => {
    calls.push([preset, files, out]);
    await mkdir(out, { recursive: true });
    await writeFile(path.join(out, 'model.yaml'), 'name: test\n');
  };
  const c = await convertAfterPull(pulled, store, double);
  assert.equal(c.kind, 'converted');
  assert.deepEqual(calls, [['sd-v1', [pulled.snapshot], store.convertedDir(repo, SHA, 'sd-v1')]]);
});
