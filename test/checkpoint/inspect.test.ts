import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspectCheckpoint, renderCheckpointSummary } from '../../src/checkpoint/inspect.js';
import { readTorchCheckpoint } from '../../src/checkpoint/torch.js';
import { fixture } from './helpers.js';

test('inspect a Lightning LDM checkpoint: counts, groups, EMA layout and top-level scalars', async () => {
  const s = await inspectCheckpoint(fixture('lightning_ldm.ckpt'));
  const { tensors } = await readTorchCheckpoint(fixture('lightning_ldm.ckpt'));
  const numel = [...tensors.values()].reduce((a, t) => a + t.data.length, 0);
  assert.equal(s.format, 'torch-zip');
  assert.equal(s.tensorCount, tensors.size);
  assert.equal(s.parameterCount, numel);
  // model.diffusion_model: 4*3*3*3 + 4 + 3*4*3*3 = 220; first_stage_model.encoder: 2*3*3*3 + 2 = 56
  assert.deepEqual(
    s.groups.map((g) => [g.prefix, g.tensors, g.parameters]),
    [
      ['model.diffusion_model', 3, 220],
      ['first_stage_model.encoder', 2, 56],
      ['model_ema', 5, 222],
    ],
  );
  assert.deepEqual(s.dtypes, {
    float32: { tensors: 9, parameters: 497 },
    int32: { tensors: 1, parameters: 1 },
  });
  assert.deepEqual(s.ema, { layout: 'compvis', prefix: 'model_ema.', tensors: 5 });
  assert.deepEqual(s.metadata, { epoch: 3, global_step: 1234, 'pytorch-lightning_version': '1.4.2' });
  assert.equal(s.skippedTensors, 2);
  const text = renderCheckpointSummary(s);
  assert.match(text, /parameters: 498/);
  assert.match(text, /compvis layout under model_ema\.\*/);
});

test('inspect a safetensors file reads only its header', async () => {
  const s = await inspectCheckpoint(fixture('basic_dtypes.safetensors'));
  assert.equal(s.format, 'safetensors');
  assert.equal(s.tensorCount, 20);
  assert.equal(s.dtypes.float16?.tensors, 2);
  assert.deepEqual(s.metadata, { made_by: 'checkpoint_fixtures.py' });
  assert.equal(s.ema.layout, 'none');
});

test('inspect an EDM-style pickle needs opaque mode and reports the EMA network', async () => {
  await assert.rejects(inspectCheckpoint(fixture('edm_like.pkl')), /refusing to unpickle global/);
  const s = await inspectCheckpoint(fixture('edm_like.pkl'), { opaque: true });
  assert.equal(s.format, 'pickle');
  assert.deepEqual(s.groups, [
    { prefix: 'ema.model', tensors: 7, parameters: 4 + 108 + 4 + 144 + 4 + 4 + 4 },
  ]);
  assert.equal(s.ema.layout, 'wrapped');
  assert.deepEqual(s.metadata, { loss_fn: null, augment_pipe: null });
});
