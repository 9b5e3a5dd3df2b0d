import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { importCheckpoint, prepareImport } from '../../src/models/import.js';
import { networkTensors } from '../../src/models/folder.js';
import type { ModelManifest } from '../../src/models/manifest.js';
import { readSafetensorsFile } from '../../src/checkpoint/safetensors.js';
import type { RawTensor } from '../../src/checkpoint/types.js';
import { assertSameValues, assertTensorMapsEqual, fixture } from '../checkpoint/helpers.js';

async function withTemp(body: (root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(path.join(tmpdir(), 'flow-import-'));
  try {
    await body(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const pixel = (weightsPrefix: string, type: 'openai-unet' | 'dhariwal-unet'): ModelManifest => ({
  name: 'pix',
  kind: 'pixel-diffusion',
  architecture: { type, config: {} },
  weightsPrefix,
  schedule: { family: 'edm', sigmaMin: 0.002, sigmaMax: 80, rho: 7, sigmaData: 0.5 },
  prediction: 'x0',
  preconditioning: 'edm',
  dataShape: [64, 64, 3],
});

test('EDM-style pickle -> model folder: EMA network under its state_dict names, provenance recorded', async () => {
  await withTemp(async (root) => {
    const input = fixture('edm_like.pkl');
    const r = await importCheckpoint(input, path.join(root, 'edm'), pixel('model.', 'dhariwal-unet'), { opaque: true });
    assert.equal(r.format, 'pickle');
    assert.equal(r.selection.used, 'ema');
    const expected = await readSafetensorsFile(fixture('edm_expected.safetensors'));
    const net = networkTensors(r.folder);
    assert.ok(net.has('enc.64x64_conv.weight'));
    for (const [k, t] of net) assertSameValues(t, expected.get(`ema.model.${k}`) as RawTensor, k);
    const sha = createHash('sha256').update(await readFile(input)).digest('hex');
    assert.equal(r.folder.metadata['source_sha256'], sha);
    assert.equal(r.folder.metadata['source_format'], 'pickle');
  });
});

test('only the tensors under declared prefixes are kept; raw weights on request', async () => {
  await withTemp(async (root) => {
    const r = await importCheckpoint(
      fixture('lightning_ldm.ckpt'),
      path.join(root, 'unet'),
      pixel('model.diffusion_model.', 'openai-unet'),
      { prefer: 'model' },
    );
    assert.deepEqual(r.dropped, ['first_stage_model.encoder.conv_in.weight', 'first_stage_model.encoder.conv_in.bias']);
    const expected = await readSafetensorsFile(fixture('lightning_expected.safetensors'));
    assertSameValues(
      networkTensors(r.folder).get('out.2.weight') as RawTensor,
      expected.get('model.diffusion_model.out.2.weight') as RawTensor,
      'raw weight',
    );
  });
});

test('half-precision tensors are stored losslessly in their own dtype, or widened on request', async () => {
  await withTemp(async (root) => {
    const manifest: ModelManifest = {
      name: 'c',
      kind: 'classifier',
      architecture: { type: 'classifier-cnn', config: {} },
      dataShape: [8, 8, 3],
      classes: { count: 2 },
    };
    const expected = await readSafetensorsFile(fixture('basic_expected.safetensors'));
    // The fixture holds NaN and infinity on purpose: kept exactly when read, refused as model weights.
    const keep = await prepareImport(fixture('basic_zip.pt'), manifest);
    assert.equal(keep.tensors.get('f16')?.dtype, 'float16');
    assert.equal(keep.tensors.get('bf16')?.dtype, 'bfloat16');
    assertTensorMapsEqual(keep.tensors, expected, 'kept dtypes');
    const wide = await prepareImport(fixture('basic_zip.pt'), manifest, { float32: true });
    assert.equal(wide.tensors.get('f16')?.dtype, 'float32');
    assertTensorMapsEqual(wide.tensors, expected, 'float32');
    await assert.rejects(
      importCheckpoint(fixture('basic_zip.pt'), path.join(root, 'keep'), manifest),
      /basic_zip\.pt: tensor '\w+' holds \d+ non-finite values? \(NaN or infinity\); the weights are unusable$/,
    );
  });
});
