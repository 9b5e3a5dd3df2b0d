import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  ModelFolderError,
  autoencoderTensors,
  loadModelFolder,
  networkTensors,
  parseManifest,
  writeModelFolder,
} from '../../src/models/folder.js';
import type { ModelManifest } from '../../src/models/manifest.js';
import { readTorchCheckpoint } from '../../src/checkpoint/torch.js';
import { readSafetensorsFile } from '../../src/checkpoint/safetensors.js';
import { selectWeights } from '../../src/checkpoint/select.js';
import type { RawTensor, TensorMap } from '../../src/checkpoint/types.js';
import { assertSameValues, fixture } from '../checkpoint/helpers.js';

const LDM: ModelManifest = {
  name: 'tiny-ldm',
  kind: 'ldm',
  architecture: { type: 'openai-unet', config: { in_channels: 3, out_channels: 3, model_channels: 4 } },
  weightsPrefix: 'model.diffusion_model.',
  autoencoder: {
    architecture: { type: 'autoencoder-kl', config: { embed_dim: 3 } },
    scaleFactor: 0.18215,
    weightsPrefix: 'first_stage_model.',
  },
  schedule: { family: 'vp-discrete', betaSchedule: 'linear', numSteps: 1000, betaStart: 0.0015, betaEnd: 0.0195 },
  prediction: 'eps',
  dataShape: [8, 8, 3],
  latentShape: [2, 2, 3],
  source: 'test/fixtures/checkpoint/lightning_ldm.ckpt (EMA weights)',
};

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'flow-models-'));
}

test('a converted Lightning LDM checkpoint round-trips through a model folder (EMA weights, prefixes, digest)', async () => {
  const root = await tempDir();
  try {
    const { tensors } = await readTorchCheckpoint(fixture('lightning_ldm.ckpt'));
    const ema = selectWeights(tensors, { prefer: 'ema' }).tensors;
    const dir = path.join(root, 'tiny-ldm');
    await writeModelFolder(dir, LDM, ema, { metadata: { converted_from: 'lightning_ldm.ckpt' } });
    assert.deepEqual((await readdir(root)).sort(), ['tiny-ldm'], 'no temporary directory left behind');
    assert.deepEqual((await readdir(dir)).sort(), ['model.yaml', 'weights.safetensors']);

    const folder = await loadModelFolder(dir);
    assert.equal(folder.manifest.weights, 'weights.safetensors');
    assert.equal(folder.manifest.preconditioning, 'none');
    assert.deepEqual(folder.manifest.dataRange, [-1, 1]);
    assert.deepEqual(folder.metadata, { converted_from: 'lightning_ldm.ckpt' });
    const expected = await readSafetensorsFile(fixture('lightning_expected.safetensors'));
    const unet = networkTensors(folder);
    assert.deepEqual([...unet.keys()], ['input_blocks.0.0.weight', 'input_blocks.0.0.bias', 'out.2.weight']);
    assertSameValues(
      unet.get('out.2.weight') as RawTensor,
      expected.get('model_ema.diffusion_modelout2weight') as RawTensor,
      'EMA UNet weight',
    );
    const vae = autoencoderTensors(folder);
    assertSameValues(
      vae.get('encoder.conv_in.bias') as RawTensor,
      expected.get('first_stage_model.encoder.conv_in.bias') as RawTensor,
      'VAE bias',
    );

    // The digest is a function of the bytes: stable across loads and rewrites, sensitive to any change.
    assert.match(folder.digest, /^[0-9a-f]{64}$/);
    assert.equal((await loadModelFolder(dir)).digest, folder.digest);
    await writeModelFolder(dir, LDM, ema, { metadata: { converted_from: 'lightning_ldm.ckpt' }, overwrite: true });
    assert.equal((await loadModelFolder(dir)).digest, folder.digest);
    const changed: TensorMap = new Map(ema);
    const w = ema.get('model.diffusion_model.out.2.weight') as RawTensor;
    const data = Float32Array.from(w.data);
    data[0] = (data[0] as number) + 1;
    changed.set('model.diffusion_model.out.2.weight', { ...w, data });
    await writeModelFolder(dir, LDM, changed, { metadata: { converted_from: 'lightning_ldm.ckpt' }, overwrite: true });
    assert.notEqual((await loadModelFolder(dir)).digest, folder.digest);
    assert.deepEqual((await readdir(root)).sort(), ['tiny-ldm'], 'overwrite leaves no old copy behind');

    await assert.rejects(writeModelFolder(dir, LDM, ema), /already exists/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

/** Expect parseManifest to fail at a line/column with a message matching `pattern`. */
function failsAt(text: string, line: number, column: number, pattern: RegExp): void {
  assert.throws(
    () => parseManifest(text, 'm/model.yaml'),
    (e: unknown) => {
      assert.ok(e instanceof ModelFolderError, String(e));
      assert.match(e.message, pattern);
      assert.equal(e.file, 'm/model.yaml');
      assert.deepEqual([e.line, e.column], [line, column], e.message);
      assert.ok(e.message.startsWith(`m/model.yaml:${line}:${column}: `), e.message);
      return true;
    },
  );
}

const GOOD = `name: pix
kind: pixel-diffusion
architecture:
  type: dhariwal-unet
  config:
    img_resolution: 64
schedule:
  family: edm
  sigmaMin: 0.002
prediction: x0
preconditioning: edm
dataShape: [64, 64, 3]
classes:
  count: 2
  names: [cat, dog]
`;

test('model.yaml schema errors point at the YAML line and column', () => {
  assert.equal(parseManifest(GOOD, 'm/model.yaml').architecture.type, 'dhariwal-unet');
  failsAt(GOOD.replace('type: dhariwal-unet', 'type: resnet'), 4, 9, /'architecture\.type' must be one of "openai-unet"/);
  failsAt(GOOD.replace('prediction: x0', 'prediction: x0\nsigma_data: 0.5'), 11, 1, /unknown key 'sigma_data' in model\.yaml/);
  failsAt(GOOD.replace('dataShape: [64, 64, 3]', 'dataShape: [64, 64]'), 12, 12, /'dataShape' must NOT have fewer than 3 items/);
  failsAt(GOOD.replace('prediction: x0\n', ''), 1, 1, /missing required key 'prediction'/);
  failsAt(GOOD.replace('names: [cat, dog]', 'names: [cat]'), 15, 10, /classes\.names has 1 entries but classes\.count is 2/);
  failsAt(GOOD.replace('  family: edm', '  family: edm\n  family: ve'), 9, 3, /YAML error: .*unique/i);
  failsAt(GOOD.replace('kind: pixel-diffusion', 'kind: ldm'), 1, 1, /missing required key 'autoencoder'/);
  // Every schema problem is listed, each with its own position.
  assert.throws(
    () => parseManifest(GOOD.replace('type: dhariwal-unet', 'type: resnet').replace('prediction: x0', 'prediction: eps2'), 'm.yaml'),
    /'architecture\.type' must be one of[\s\S]*\n {2}m\.yaml:10:13: 'prediction' must be one of/,
  );
});

test('loading reports missing files and absent weight prefixes by file name', async () => {
  const root = await tempDir();
  try {
    const dir = path.join(root, 'm');
    await assert.rejects(loadModelFolder(dir), (e: unknown) => e instanceof ModelFolderError && /model\.yaml: cannot read the model manifest \(file not found\)/.test(e.message));
    await mkdir(dir);
    await writeFile(path.join(dir, 'model.yaml'), GOOD);
    await assert.rejects(loadModelFolder(dir), /weights\.safetensors: cannot read the weights \(file not found\)/);
    await writeModelFolder(path.join(root, 'src'), parseManifest(GOOD, 'x'), new Map([['x', { dtype: 'float32', shape: [1], data: Float32Array.of(1) }]]));
    await writeFile(path.join(dir, 'weights.safetensors'), await readFile(path.join(root, 'src', 'weights.safetensors')));
    await writeFile(path.join(dir, 'model.yaml'), GOOD + "weightsPrefix: 'net.'\n");
    await assert.rejects(loadModelFolder(dir), /weights\.safetensors: no tensor starts with the network weightsPrefix 'net\.'/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
