/**
 * Presets and `--compvis-config`: every preset's manifest carries the configuration whose full-size
 * key set test/networks/unet-keys.test.ts checks against the official module tree; a checkpoint
 * that does not fit a preset is refused before anything is written, with the keys and the file
 * the user needs named; a CompVis config plus a checkpoint (here the cin256-style fixture: UNet with
 * SpatialTransformers, ClassEmbedder, KL autoencoder) converts into a folder that reproduces
 * the PyTorch reference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { stringify } from 'yaml';
import { writeSafetensors } from '../../src/checkpoint/safetensors.js';
import type { TensorMap } from '../../src/checkpoint/types.js';
import { convertWithCompVisConfig, convertWithPreset, findPreset, listPresets } from '../../src/models/presets.js';
import { loadModel } from '../../src/models/build.js';
import { presetListing, runConvert } from '../../src/cli/convert-command.js';
import { loadUNetFixture } from '../networks/unet-fixture.js';
import { loadAutoencoderFixture } from '../networks/autoencoder-fixture.js';
import { tempDir } from '../engine/helpers.js';
import { relErr, useBackend } from '../helpers/backends.js';

type Listing = Record<string, { config: Record<string, unknown> }>;
const listing = JSON.parse(
  readFileSync(new URL('../fixtures/networks/unet-keys.json', import.meta.url), 'utf8'),
) as Listing;

/** Preset -> the key-checked full-size configuration it must carry. */
const CHECKED: Record<string, string> = {
  'cin256-v2': 'openai:cin256-v2',
  'sd-v1': 'openai:sd-v1',
  'lsun-bedrooms-ldm-vq-4': 'openai:lsun_bedrooms-ldm-vq-4',
  'celebahq-ldm-vq-4': 'openai:lsun_bedrooms-ldm-vq-4',
  'ffhq-ldm-vq-4': 'openai:lsun_bedrooms-ldm-vq-4',
  'lsun-churches-ldm-kl-8': 'openai:lsun_churches-ldm-kl-8',
  'edm-imagenet64-cond': 'dhariwal:edm-imagenet-64-cond',
};

test('every preset makes a valid manifest with the key-checked official configuration', () => {
  const names = listPresets().map((p) => p.name);
  assert.deepEqual([...names].sort(), [...Object.keys(CHECKED), 'sd-v1-vae'].sort());
  for (const [name, entry] of Object.entries(CHECKED)) {
    const m = findPreset(name).manifest(new Map());
    const want = listing[entry]?.config ?? {};
    for (const [k, v] of Object.entries(want)) assert.deepEqual(m.architecture.config[k], v, `${name}: ${k}`);
  }
  const cin = findPreset('cin256-v2').manifest(new Map());
  assert.equal(cin.conditioning?.type, 'class-embedder');
  assert.equal(cin.conditioning?.unconditionalClass, 1000);
  assert.deepEqual([cin.dataShape, cin.latentShape], [[256, 256, 3], [64, 64, 3]]);
  const sd = findPreset('sd-v1').manifest(new Map());
  assert.deepEqual(sd.conditioning?.config, { context_dim: 768, tokens: 77, encoder: 'ldm.modules.encoders.modules.FrozenCLIPEmbedder' });
  assert.equal(sd.autoencoder?.scaleFactor, 0.18215);
  // scale_by_std: the churches model's factor is read from the checkpoint's buffer.
  const churches = findPreset('lsun-churches-ldm-kl-8').manifest(
    new Map([['scale_factor', { dtype: 'float32', shape: [], data: new Float32Array([0.25]) }]]),
  );
  assert.equal(churches.autoencoder?.scaleFactor, 0.25);
  assert.throws(() => findPreset('sd-v3'), /unknown preset 'sd-v3' \(known: cin256-v2, /);
});

test('a checkpoint that does not fit a preset is refused, naming keys and the file needed; nothing is written', async () => {
  const dir = await tempDir();
  const f = await loadUNetFixture('unet-openai-st-cin');
  const ckpt = path.join(dir, 'model.ckpt');
  await writeFile(ckpt, writeSafetensors(new Map([...f.weights].map(([k, v]) => [`model.diffusion_model.${k}`, v])) as TensorMap));
  await assert.rejects(
    convertWithPreset('cin256-v2', [ckpt], path.join(dir, 'out')),
    (e: Error) =>
      /does not fit preset cin256-v2 \(needs .*ommer-lab\.com/.test(e.message) && /input_blocks\.1\.0\.in_layers/.test(e.message),
  );
  await assert.rejects(convertWithPreset('cin256-v2', [path.join(dir, 'nope.ckpt')], path.join(dir, 'out')), /nope\.ckpt: not found \(preset cin256-v2 needs/);
  assert.deepEqual(await readdir(dir), ['model.ckpt']);
});

test('--compvis-config: a CompVis config and checkpoint become a folder that matches PyTorch', async () => {
  await useBackend('wasm');
  const dir = await tempDir();
  const f = await loadUNetFixture('unet-openai-st-cin');
  const ae = await loadAutoencoderFixture<Record<string, number | number[]>>('autoencoder-kl.safetensors');
  const c = ae.config;
  const config = {
    model: {
      target: 'ldm.models.diffusion.ddpm.LatentDiffusion',
      params: {
        linear_start: 0.0015,
        linear_end: 0.0195,
        timesteps: 1000,
        image_size: 8,
        channels: 4,
        conditioning_key: 'crossattn',
        unet_config: { target: 'ldm.modules.diffusionmodules.openaimodel.UNetModel', params: f.config },
        first_stage_config: {
          target: 'ldm.models.autoencoder.AutoencoderKL',
          params: {
            embed_dim: c.embedDim,
            ddconfig: { double_z: true, z_channels: c.zChannels, resolution: c.resolution, in_channels: c.inChannels, out_ch: c.outCh, ch: c.ch, ch_mult: c.chMult, num_res_blocks: c.numResBlocks, attn_resolutions: c.attnResolutions },
            lossconfig: { target: 'torch.nn.Identity' },
          },
        },
        cond_stage_config: { target: 'ldm.modules.encoders.modules.ClassEmbedder', params: { n_classes: 5, embed_dim: 16, key: 'class_label' } },
      },
    },
  };
  const configFile = path.join(dir, 'config.yaml');
  await writeFile(configFile, stringify(config));
  const tensors: TensorMap = new Map([...f.weights].map(([k, v]) => [`model.diffusion_model.${k}`, v]));
  for (const [k, v] of ae.weights) tensors.set(`first_stage_model.${k}`, v);
  const emb = f.io.get('embedding');
  assert.ok(emb);
  tensors.set('cond_stage_model.embedding.weight', emb);
  const ckpt = path.join(dir, 'model.ckpt');
  await writeFile(ckpt, writeSafetensors(tensors));
  const out = path.join(dir, 'cin-tiny');
  const report = await convertWithCompVisConfig(configFile, ckpt, out);
  assert.equal(report.manifest.name, 'cin-tiny');
  assert.equal(report.manifest.conditioning?.type, 'class-embedder');
  const model = await loadModel(out);
  const x = tf.tensor(Float32Array.from(f.io.get('x')?.data ?? []), f.io.get('x')?.shape).slice([0, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
  // Class 2 at step 37 is sample 0 of the fixture. classes.count 5 here (n_classes != 1001): no null class.
  const eps = model.denoiser?.predictEps(x, 37, tf.tensor1d([2], 'int32')) as tf.Tensor;
  const want = Float32Array.from(f.io.get('out')?.data ?? []).slice(0, x.size);
  assert.ok(relErr(await eps.data(), want) < 1e-5);
  tf.dispose([x, eps]);
  model.dispose();
});

test('flow convert: --list-presets names every preset with its file; exactly one description source is required', async () => {
  const listing = presetListing();
  for (const p of listPresets()) assert.ok(listing.includes(`${p.name}\n`), p.name);
  assert.match(listing, /needs: edm-imagenet-64x64-cond-adm\.pkl \(https:\/\/nvlabs-fi-cdn\.nvidia\.com/);
  const base = { prefer: 'ema' as const, out: 'x' };
  await assert.rejects(runConvert('a.ckpt', base), /exactly one of --manifest, --preset, --compvis-config/);
  await assert.rejects(runConvert('a.ckpt', { ...base, preset: 'cin256-v2', manifest: 'm.yaml' }), /exactly one/);
  await assert.rejects(runConvert(undefined, { ...base, preset: 'cin256-v2' }), /missing the checkpoint/);
});
