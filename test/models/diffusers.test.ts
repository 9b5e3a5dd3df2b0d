/**
 * diffusers folders: parity fixtures rewritten in diffusers layout with the key map of
 * scripts/fixtures/diffusers_layout.py (CompVis -> diffusers, written from the CompVis module tree)
 * are read back by src/models/diffusers.ts (diffusers -> CompVis, from the diffusers config):
 * the UNet2DConditionModel as one file, the AutoencoderKL as two shards with an index. Chained,
 * the two maps must give back exactly the fixture's keys and shapes, and the converted model
 * folder must reproduce the PyTorch outputs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { stringify } from 'yaml';
import { writeSafetensors } from '../../src/checkpoint/safetensors.js';
import type { RawTensor, TensorMap } from '../../src/checkpoint/types.js';
import { readDiffusersModel } from '../../src/models/diffusers.js';
import { OpenAIUNet, type OpenAIUNetConfig } from '../../src/networks/unet-openai.js';
import { convertCheckpoint } from '../../src/models/convert.js';
import { convertWithPreset } from '../../src/models/presets.js';
import { loadModel } from '../../src/models/build.js';
import type { ModelManifest } from '../../src/models/manifest.js';
import { loadUNetFixture } from '../networks/unet-fixture.js';
import { loadAutoencoderFixture } from '../networks/autoencoder-fixture.js';
import { tempDir } from '../engine/helpers.js';
import { relErr, useBackend } from '../helpers/backends.js';

/** CompVis name -> diffusers name, or a fused qkv -> its three parts and the rows each takes. */
type Target = string | { split: [string, string, string]; rows: [number[], number[], number[]] };
type Layout = Record<string, { config: Record<string, unknown>; keys: Record<string, Target> }>;
const layout = JSON.parse(
  readFileSync(new URL('../fixtures/networks/diffusers-layout.json', import.meta.url), 'utf8'),
) as Layout;

const unet = await loadUNetFixture('unet-openai-st-cin');
const vae = await loadAutoencoderFixture<Record<string, unknown>>('autoencoder-kl-plain.safetensors');

/** The fixture's CompVis state_dict under diffusers names (attention 1x1 convs as diffusers' Linear). */
function toDiffusers(weights: TensorMap, entry: string): TensorMap {
  const keys = layout[entry]?.keys ?? {};
  const out: TensorMap = new Map();
  for (const [k, t] of weights) {
    const target = keys[k];
    assert.ok(target, `${entry}: no diffusers name for ${k}`);
    if (typeof target !== 'string') {
      // One fused qkv (Conv1d [3C, C, 1] or bias [3C]) -> three Linear weights [C, C] or biases [C].
      const width = t.shape.length > 1 ? (t.shape[1] as number) : 1;
      target.split.forEach((name, j) => {
        const rows = target.rows[j] as number[];
        const data = new Float32Array(rows.length * width);
        rows.forEach((r, i) => data.set(t.data.subarray(r * width, (r + 1) * width), i * width));
        out.set(name, { dtype: 'float32', shape: t.shape.length > 1 ? [rows.length, width] : [rows.length], data });
      });
      continue;
    }
    // diffusers' attention output (and the VAE's q, k, v) projections are Linear [C, C].
    const linear = /attentions\.\d+\.(to_q|to_k|to_v|to_out\.0)\.weight$/.test(target) && t.shape.length > 2;
    out.set(target, linear ? { ...t, shape: t.shape.slice(0, 2) } : t);
  }
  return out;
}

async function writeUnet(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(layout['unet-openai-st-cin']?.config));
  await writeFile(path.join(dir, 'diffusion_pytorch_model.safetensors'), writeSafetensors(toDiffusers(unet.weights, 'unet-openai-st-cin')));
}

/** The VAE as two shards plus the index, as diffusers writes large models. */
async function writeShardedVae(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(layout['autoencoder-kl-plain']?.config));
  const all = [...toDiffusers(vae.weights, 'autoencoder-kl-plain')];
  const shards: [string, [string, RawTensor][]][] = [
    ['diffusion_pytorch_model-00001-of-00002.safetensors', all.filter(([k]) => k.startsWith('encoder.'))],
    ['diffusion_pytorch_model-00002-of-00002.safetensors', all.filter(([k]) => !k.startsWith('encoder.'))],
  ];
  const weightMap: Record<string, string> = {};
  for (const [file, entries] of shards) {
    await writeFile(path.join(dir, file), writeSafetensors(new Map(entries)));
    for (const [k] of entries) weightMap[k] = file;
  }
  await writeFile(path.join(dir, 'diffusion_pytorch_model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
}

const signature = (m: TensorMap) => [...m].map(([k, t]) => `${k} ${JSON.stringify(t.shape)}`).sort();

test('diffusers -> CompVis names: UNet2DConditionModel (one file) and AutoencoderKL (sharded) give back the fixtures', async () => {
  const dir = await tempDir();
  await writeUnet(path.join(dir, 'unet'));
  await writeShardedVae(path.join(dir, 'vae'));
  const u = await readDiffusersModel(path.join(dir, 'unet'));
  assert.deepEqual(signature(u.tensors), signature(unet.weights));
  for (const k of ['model_channels', 'channel_mult', 'num_res_blocks', 'attention_resolutions', 'num_heads', 'context_dim'])
    assert.deepEqual(u.architecture.config[k], unet.config[k], k);
  const v = await readDiffusersModel(path.join(dir, 'vae'));
  assert.deepEqual(signature(v.tensors), signature(vae.weights));
  // A config flow's networks cannot express is refused by name.
  const bad = path.join(dir, 'bad');
  await writeUnet(bad);
  await writeFile(path.join(bad, 'config.json'), JSON.stringify({ ...layout['unet-openai-st-cin']?.config, flip_sin_to_cos: false }));
  await assert.rejects(readDiffusersModel(bad), /flip_sin_to_cos = false is not supported/);
  await assert.rejects(readDiffusersModel(path.join(dir, 'none')), /no config\.json/);
});

test('flow convert of a diffusers pipeline folder (unet/ + sharded vae/) matches PyTorch', async () => {
  await useBackend('wasm');
  const dir = await tempDir();
  const root = path.join(dir, 'pipeline');
  await writeUnet(path.join(root, 'unet'));
  await writeShardedVae(path.join(root, 'vae'));
  const u = await readDiffusersModel(path.join(root, 'unet'));
  const v = await readDiffusersModel(path.join(root, 'vae'));
  const manifest: ModelManifest = {
    name: 'diffusers-tiny',
    kind: 'ldm',
    architecture: u.architecture,
    weightsPrefix: 'model.diffusion_model.',
    autoencoder: { architecture: v.architecture, scaleFactor: 1, weightsPrefix: 'first_stage_model.' },
    conditioning: { type: 'context', config: { context_dim: 16, tokens: 1 } },
    schedule: { family: 'vp-discrete', betaSchedule: 'scaled_linear', numSteps: 1000 },
    prediction: 'eps',
    dataShape: [16, 16, 3],
    latentShape: [8, 8, 4],
  };
  const manifestFile = path.join(dir, 'm.yaml');
  await writeFile(manifestFile, stringify(manifest));
  const report = await convertCheckpoint({ checkpoint: root, manifest: manifestFile, out: path.join(dir, 'out') });
  assert.equal(report.format, 'diffusers');
  const model = await loadModel(path.join(dir, 'out'));
  const io = (f: { io: Map<string, RawTensor> }, k: string, n?: number) => {
    const t = f.io.get(k);
    assert.ok(t);
    const all = tf.tensor(Float32Array.from(t.data), t.shape);
    return n === undefined ? all : all.slice(0, n);
  };
  const context = io(unet, 'context', 1);
  const x = io(unet, 'x', 1) as tf.Tensor4D;
  const eps = model.prior({ context }).denoiser.predictEps(x, 37);
  const want = (await io(unet, 'out').data()).slice(0, x.size);
  const unetErr = relErr(await eps.data(), want);
  assert.ok(unetErr < 1e-5, `UNet rel err ${unetErr}`);
  const dec = model.prior({ context }).decode(io(vae, 'mean') as tf.Tensor4D);
  const decErr = relErr(await dec.data(), await io(vae, 'dec').data());
  assert.ok(decErr < 1e-4, `decoder rel err ${decErr}`);
  const mean = model.autoencoder?.encode(io(vae, 'x') as tf.Tensor4D) as tf.Tensor;
  const encErr = relErr(await mean.data(), await io(vae, 'mean').data());
  assert.ok(encErr < 1e-4, `encoder rel err ${encErr}`);
  tf.dispose([context, x, eps, dec, mean]);
  model.dispose();
});

test('a preset takes a diffusers pipeline folder and checks it like a checkpoint', async () => {
  const dir = await tempDir();
  const root = path.join(dir, 'pipeline');
  await writeUnet(path.join(root, 'unet'));
  await writeShardedVae(path.join(root, 'vae'));
  // The tiny networks are not Stable Diffusion's: refused with the shapes named, nothing written.
  await assert.rejects(
    convertWithPreset('sd-v1', [root], path.join(dir, 'sd')),
    (e: Error) => /pipeline: does not fit preset sd-v1/.test(e.message) && /mis-shaped keys: .*input_blocks\.0\.0\.weight/.test(e.message),
  );
  await assert.rejects(stat(path.join(dir, 'sd')), /ENOENT/);
});

test('diffusers UNet2DModel (class labels, FiLM norm, fused-qkv attention) matches PyTorch', async () => {
  await useBackend('wasm');
  const f = await loadUNetFixture('unet-openai-a');
  const dir = path.join(await tempDir(), 'unet2d');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(layout['unet-openai-a']?.config));
  await writeFile(path.join(dir, 'diffusion_pytorch_model.safetensors'), writeSafetensors(toDiffusers(f.weights, 'unet-openai-a')));
  const m = await readDiffusersModel(dir);
  assert.equal(m.architecture.config['use_new_attention_order'], true);
  const net = OpenAIUNet.load(m.tensors, m.architecture.config as unknown as OpenAIUNetConfig);
  const io = (k: string) => {
    const t = f.io.get(k);
    assert.ok(t);
    return tf.tensor(Float32Array.from(t.data), t.shape);
  };
  const out = net.forward(io('x') as tf.Tensor4D, io('t') as tf.Tensor1D, io('y') as tf.Tensor1D);
  const err = relErr(await out.data(), await io('out').data());
  assert.ok(err < 1e-4, `rel err ${err}`);
  out.dispose();
  net.dispose();
});
