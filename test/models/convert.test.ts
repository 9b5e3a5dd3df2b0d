/**
 * `flow convert` / `flow inspect`: a CompVis-layout LDM checkpoint (UNet under
 * model.diffusion_model.*, its EMA copy under model_ema.*, the autoencoder under
 * first_stage_model.*, plus keys a model folder does not need) becomes a model folder whose
 * networks reproduce the parity fixtures with the EMA weights; a checkpoint that does not fit
 * the manifest is refused with every key named and nothing written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFile, readdir, stat } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { stringify } from 'yaml';
import { writeSafetensors } from '../../src/checkpoint/safetensors.js';
import type { RawTensor, TensorMap } from '../../src/checkpoint/types.js';
import { loadModel } from '../../src/models/build.js';
import { convertCheckpoint } from '../../src/models/convert.js';
import { loadAutoencoderFixture } from '../networks/autoencoder-fixture.js';
import { loadUNetFixture } from '../networks/unet-fixture.js';
import { REPO, tempDir } from '../engine/helpers.js';
import { tinyLdmManifest } from './tiny-models.js';
import { relErr, useBackend } from '../helpers/backends.js';

const unet = await loadUNetFixture('unet-openai-a');
const ae = await loadAutoencoderFixture<Record<string, number | number[]>>('autoencoder-kl.safetensors');

function perturbed(t: RawTensor): RawTensor {
  return { ...t, data: Float32Array.from(t.data, (v) => v + 0.5) };
}

/** A checkpoint laid out like CompVis LatentDiffusion's: raw weights perturbed, EMA weights true. */
function compvisCheckpoint(): Map<string, RawTensor> {
  const m = new Map<string, RawTensor>();
  for (const [k, v] of unet.weights) {
    m.set(`model.diffusion_model.${k}`, v.dtype.startsWith('float') ? perturbed(v) : v);
    m.set(`model_ema.diffusion_model${k.replaceAll('.', '')}`, v);
  }
  for (const [k, v] of ae.weights) m.set(`first_stage_model.${k}`, v);
  m.set('model_ema.decay', { dtype: 'float32', shape: [], data: new Float32Array([0.9999]) });
  m.set('model_ema.num_updates', { dtype: 'int32', shape: [], data: new Int32Array([10]) });
  m.set('betas', { dtype: 'float32', shape: [3], data: new Float32Array([1, 2, 3]) });
  m.set('cond_stage_model.unused.weight', { dtype: 'float32', shape: [2], data: new Float32Array([0, 0]) });
  return m;
}

const manifest = tinyLdmManifest({ unet, ae });

async function setup(): Promise<{ dir: string; ckpt: string; manifestFile: string }> {
  const dir = await tempDir();
  const ckpt = path.join(dir, 'tiny.safetensors');
  await writeFile(ckpt, writeSafetensors(compvisCheckpoint() as TensorMap));
  const manifestFile = path.join(dir, 'tiny.yaml');
  await writeFile(manifestFile, stringify(manifest));
  return { dir, ckpt, manifestFile };
}

async function unetOutput(modelDir: string): Promise<number> {
  const model = await loadModel(modelDir);
  const x = tf.tensor(unet.io.get('x')?.data as Float32Array, unet.io.get('x')?.shape).slice([0, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
  const want = tf.tensor(unet.io.get('out')?.data as Float32Array, unet.io.get('out')?.shape).slice([0, 0, 0, 0], [1, -1, -1, -1]);
  const got = model.denoiser?.predictEps(x, 37) as tf.Tensor4D;
  const err = relErr(await got.data(), await want.data());
  tf.dispose([x, want, got]);
  model.dispose();
  return err;
}

test('convert picks the EMA weights, keeps only declared prefixes, and the folder reproduces the fixture', async () => {
  await useBackend('wasm');
  const { dir, ckpt, manifestFile } = await setup();
  const out = path.join(dir, 'models', 'tiny-ldm');
  const report = await convertCheckpoint({ checkpoint: ckpt, manifest: manifestFile, out });
  assert.match(report.selection, /EMA|ema/);
  assert.ok(report.dropped.includes('betas') && report.dropped.includes('cond_stage_model.unused.weight'));
  assert.ok(await unetOutput(out) < 1e-4, 'EMA weights reproduce the fixture');
  const raw = path.join(dir, 'models', 'tiny-raw');
  await convertCheckpoint({ checkpoint: ckpt, manifest: manifestFile, out: raw, prefer: 'model' });
  assert.ok(await unetOutput(raw) > 1e-2, 'raw (perturbed) weights do not');
  await assert.rejects(convertCheckpoint({ checkpoint: ckpt, manifest: manifestFile, out }), /already exists/);
});

test('convert refuses a checkpoint that does not fit, naming the keys, and writes nothing', async () => {
  await useBackend('wasm');
  const { dir, manifestFile } = await setup();
  const broken = compvisCheckpoint();
  broken.delete('first_stage_model.decoder.conv_out.weight');
  for (const k of [...broken.keys()]) if (k.startsWith('model_ema.')) broken.delete(k);
  const bad = path.join(dir, 'bad.safetensors');
  await writeFile(bad, writeSafetensors(broken as TensorMap));
  const out = path.join(dir, 'models', 'bad');
  await assert.rejects(
    convertCheckpoint({ checkpoint: bad, manifest: manifestFile, out }),
    /bad\.safetensors: does not fit .*tiny\.yaml: .*missing keys: decoder\.conv_out\.weight/,
  );
  await assert.rejects(stat(out), /ENOENT/);
  assert.deepEqual((await readdir(path.dirname(out)).catch(() => [])).filter((f) => f.includes('tmp')), []);
});

test('flow convert and flow inspect on the command line', async () => {
  const { dir, ckpt, manifestFile } = await setup();
  const run = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src/cli/bin.ts'), ...args], { cwd: REPO });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  const conv = await run(['convert', ckpt, '--manifest', manifestFile, '--out', path.join(dir, 'models/tiny')]);
  assert.equal(conv.code, 0, conv.stderr);
  assert.match(conv.stdout, /wrote .*models\/tiny\/model\.yaml: ldm 'tiny-ldm', \d+ tensors/);
  const insp = await run(['inspect', path.join(dir, 'models/tiny')]);
  assert.equal(insp.code, 0, insp.stderr);
  assert.match(insp.stdout, /digest [0-9a-f]{64}/);
  assert.match(insp.stdout, /first_stage_model\.decoder/);
  const inspCkpt = await run(['inspect', ckpt]);
  assert.equal(inspCkpt.code, 0, inspCkpt.stderr);
  assert.match(inspCkpt.stdout, /model_ema/);
  const missing = await run(['inspect', path.join(dir, 'nope.ckpt')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^flow: .*nope\.ckpt: no such file or folder\n$/);
});
