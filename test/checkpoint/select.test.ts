import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readTorchCheckpoint } from '../../src/checkpoint/torch.js';
import { readSafetensorsFile } from '../../src/checkpoint/safetensors.js';
import { selectWeights, stripPrefix } from '../../src/checkpoint/select.js';
import type { RawTensor } from '../../src/checkpoint/types.js';
import { assertSameValues, fixture } from './helpers.js';

const UNET_KEYS = [
  'diffusion_model.input_blocks.0.0.weight',
  'diffusion_model.input_blocks.0.0.bias',
  'diffusion_model.out.2.weight',
];

test('CompVis LDM: model_ema.<dotless name> is mapped back onto model.diffusion_model.*', async () => {
  const { tensors } = await readTorchCheckpoint(fixture('lightning_ldm.ckpt'));
  const expected = await readSafetensorsFile(fixture('lightning_expected.safetensors'));
  const ema = selectWeights(tensors, { prefer: 'ema' });
  assert.equal(ema.used, 'ema');
  assert.equal(ema.layout, 'compvis');
  assert.equal(ema.emaTensors, 3);
  assert.ok(![...ema.tensors.keys()].some((k) => k.startsWith('model_ema.')));
  for (const k of UNET_KEYS) {
    const emaName = `model_ema.${k.replaceAll('.', '')}`;
    assertSameValues(ema.tensors.get(`model.${k}`) as RawTensor, expected.get(emaName) as RawTensor, k);
  }
  // The autoencoder has no EMA copy and passes through unchanged.
  const vae = stripPrefix(ema.tensors, 'first_stage_model.');
  assert.deepEqual([...vae.keys()], ['encoder.conv_in.weight', 'encoder.conv_in.bias']);
  assertSameValues(
    vae.get('encoder.conv_in.weight') as RawTensor,
    expected.get('first_stage_model.encoder.conv_in.weight') as RawTensor,
    'vae',
  );

  const raw = selectWeights(tensors, { prefer: 'model' });
  assert.equal(raw.used, 'model');
  for (const k of UNET_KEYS)
    assertSameValues(raw.tensors.get(`model.${k}`) as RawTensor, expected.get(`model.${k}`) as RawTensor, k);
  const unet = stripPrefix(raw.tensors, 'model.diffusion_model.');
  assert.deepEqual([...unet.keys()], ['input_blocks.0.0.weight', 'input_blocks.0.0.bias', 'out.2.weight']);
});

test('wrapped {model, ema} checkpoints: the chosen copy is returned without its prefix', async () => {
  const { tensors } = await readTorchCheckpoint(fixture('wrapped_ema.pt'));
  const expected = await readSafetensorsFile(fixture('wrapped_expected.safetensors'));
  for (const prefer of ['ema', 'model'] as const) {
    const sel = selectWeights(tensors, { prefer });
    assert.equal(sel.used, prefer);
    assert.deepEqual([...sel.tensors.keys()], ['a', 'b']);
    for (const k of ['a', 'b'])
      assertSameValues(
        sel.tensors.get(k) as RawTensor,
        expected.get(`${prefer}.${k}`) as RawTensor,
        `${prefer}.${k}`,
      );
  }
});

test('EDM snapshot (EMA only) and checkpoints without EMA', async () => {
  const { tensors } = await readTorchCheckpoint(fixture('edm_like.pkl'), { opaque: true });
  const sel = selectWeights(tensors, { prefer: 'model' });
  assert.equal(sel.used, 'ema');
  assert.match(sel.note, /no raw model weights/);
  assert.ok(sel.tensors.has('model.enc.64x64_conv.weight'));
  const plain = await readTorchCheckpoint(fixture('basic_zip.pt'));
  const none = selectWeights(plain.tensors);
  assert.equal(none.layout, 'none');
  assert.equal(none.tensors, plain.tensors);
});

test('CompVis autoencoder with use_ema: model_ema.<dotless full name> replaces unprefixed keys', () => {
  const t = (v: number): RawTensor => ({ dtype: 'float32', shape: [1], data: Float32Array.of(v) });
  const tensors = new Map<string, RawTensor>([
    ['encoder.conv_in.weight', t(1)],
    ['quantize.embedding.weight', t(2)],
    ['loss.discriminator.main.0.weight', t(3)],
    ['model_ema.decay', t(0.999)],
    ['model_ema.num_updates', t(10)],
    ['model_ema.encoderconv_inweight', t(11)],
    ['model_ema.quantizeembeddingweight', t(12)],
  ]);
  const sel = selectWeights(tensors, { prefer: 'ema' });
  assert.equal(sel.emaTensors, 2);
  assert.deepEqual(
    [...sel.tensors].map(([k, v]) => [k, v.data[0]]),
    [
      ['encoder.conv_in.weight', 11],
      ['quantize.embedding.weight', 12],
      ['loss.discriminator.main.0.weight', 3],
    ],
  );
  assert.match(sel.note, /1 tensors without an EMA copy/);
});
