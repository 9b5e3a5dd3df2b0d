import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { readTorchCheckpoint } from '../../src/checkpoint/torch.js';
import { readSafetensorsFile } from '../../src/checkpoint/safetensors.js';
import { ZipArchive } from '../../src/checkpoint/zip.js';
import { CheckpointError } from '../../src/checkpoint/errors.js';
import type { RawTensor } from '../../src/checkpoint/types.js';
import { assertSameValues, assertTensorMapsEqual, fixture } from './helpers.js';

const expected = await readSafetensorsFile(fixture('basic_expected.safetensors'));

for (const [file, format] of [
  ['basic_zip.pt', 'torch-zip'],
  ['basic_legacy.pt', 'torch-legacy'],
  ['basic_zip_p4.pt', 'torch-zip'],
  ['basic_legacy_p4.pt', 'torch-legacy'],
  ['basic_plain.pkl', 'pickle'],
  ['basic_deflate.pt', 'torch-zip'],
  ['basic_zip64.pt', 'torch-zip'],
  ['basic_zip64_extra.pt', 'torch-zip'],
] as const) {
  test(`${file}: every dtype, strided views, shared storage and offsets equal PyTorch's values`, async () => {
    const { tensors, meta } = await readTorchCheckpoint(fixture(file));
    assert.equal(meta.format, format);
    assertTensorMapsEqual(tensors, expected, file);
    assert.equal((tensors.get('half_t') as RawTensor).dtype, 'float16');
    assert.equal((tensors.get('bf16') as RawTensor).dtype, 'bfloat16');
    assert.deepEqual((tensors.get('scalar') as RawTensor).shape, []);
  });
}

test('reading from bytes gives the same tensors as reading the path', async () => {
  const bytes = await readFile(fixture('basic_zip.pt'));
  const { tensors, meta } = await readTorchCheckpoint(new Uint8Array(bytes), { source: 'mem.pt' });
  assert.equal(meta.source, 'mem.pt');
  assertTensorMapsEqual(tensors, expected, 'bytes');
});

test('Lightning checkpoint: state_dict chosen automatically, scalars kept, other tensors skipped', async () => {
  const { tensors, meta } = await readTorchCheckpoint(fixture('lightning_ldm.ckpt'));
  assertTensorMapsEqual(
    tensors,
    await readSafetensorsFile(fixture('lightning_expected.safetensors')),
    'lightning',
  );
  assert.equal(meta.root, 'state_dict');
  assert.equal(meta.values['global_step'], 1234);
  assert.equal(meta.values['pytorch-lightning_version'], '1.4.2');
  assert.equal(meta.values['hparams.batch_size'], 8); // argparse.Namespace
  assert.equal(meta.values['hyper_parameters.image_size'], 64); // AttributeDict
  // numpy scalars inside a callback state keyed by the ModelCheckpoint class
  assert.equal(
    meta.values['callbacks.pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint.monitor_value'],
    0.125,
  );
  assert.equal(
    meta.values['callbacks.pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint.count'],
    9,
  );
  assert.equal(meta.skippedTensors, 2); // optimizer exp_avg and best_model_score
  const all = await readTorchCheckpoint(fixture('lightning_ldm.ckpt'), { root: 'all' });
  assert.ok(all.tensors.has('optimizer_states.0.state.0.exp_avg'));
  assert.ok(all.tensors.has('state_dict.model.diffusion_model.out.2.weight'));
  assert.equal(all.meta.skippedTensors, 0);
});

test('EDM-style whole-object pickle: refused by name in strict mode, tensors found by path in opaque mode', async () => {
  await assert.rejects(
    readTorchCheckpoint(fixture('edm_like.pkl')),
    /edm_like\.pkl.*refusing to unpickle global 'torch_utils\.persistence\._reconstruct_persistent_obj'/,
  );
  const { tensors } = await readTorchCheckpoint(fixture('edm_like.pkl'), { opaque: true });
  assertTensorMapsEqual(tensors, await readSafetensorsFile(fixture('edm_expected.safetensors')), 'edm');
  assert.ok(tensors.has('ema.model.enc.64x64_conv.weight'));
});

test('malicious pickles are refused, naming the global; opaque mode keeps them inert', async () => {
  await assert.rejects(
    readTorchCheckpoint(fixture('evil_system.pt')),
    /evil_system\.pt.*refusing to unpickle global 'posix\.system'/,
  );
  await assert.rejects(
    readTorchCheckpoint(fixture('evil_eval.pt')),
    /evil_eval\.pt.*refusing to unpickle global '__builtin__\.eval'/,
  );
  await assert.rejects(
    readTorchCheckpoint(fixture('evil_eval.pkl')),
    /evil_eval\.pkl.*refusing to unpickle global 'builtins\.eval'/,
  );
  const inert = await readTorchCheckpoint(fixture('evil_system.pt'), { opaque: true });
  assert.deepEqual([...inert.tensors.keys()], ['w']);
  assertSameValues(
    inert.tensors.get('w') as RawTensor,
    { dtype: 'float32', shape: [2], data: Float32Array.of(1, 1) },
    'w',
  );
});

async function rejectsBytes(bytes: Uint8Array, pattern: RegExp): Promise<void> {
  await assert.rejects(
    readTorchCheckpoint(bytes, { source: 'broken.pt' }),
    (e: unknown) =>
      e instanceof CheckpointError && e.message.startsWith('broken.pt') && pattern.test(e.message),
  );
}

test('truncated and corrupted files give clear errors', async () => {
  const zip = new Uint8Array(await readFile(fixture('basic_zip.pt')));
  await rejectsBytes(zip.subarray(0, zip.length - 30), /no end-of-central-directory record/);
  await rejectsBytes(zip.subarray(0, 2000), /no end-of-central-directory record/);
  // Flip one byte inside a stored tensor: the CRC check must catch it, naming the entry.
  const archive = new ZipArchive(zip);
  const entry = [...archive.entries.values()].find((e) => e.name.endsWith('/data/0'));
  assert.ok(entry);
  const corrupt = zip.slice();
  const dv = new DataView(corrupt.buffer);
  const dataStart =
    entry.localHeaderOffset +
    30 +
    dv.getUint16(entry.localHeaderOffset + 26, true) +
    dv.getUint16(entry.localHeaderOffset + 28, true);
  corrupt[dataStart + 3] = (corrupt[dataStart + 3] as number) ^ 0x10;
  await rejectsBytes(corrupt, /key '.*\/data\/0'.*CRC-32 mismatch/);

  const legacy = new Uint8Array(await readFile(fixture('basic_legacy.pt')));
  await rejectsBytes(legacy.subarray(0, legacy.length - 10), /truncated inside storage/);
  await rejectsBytes(legacy.subarray(0, 300), /truncated/);
  const plain = new Uint8Array(await readFile(fixture('basic_plain.pkl')));
  await rejectsBytes(plain.subarray(0, 1000), /truncated/);
  await rejectsBytes(new TextEncoder().encode('hello world'), /not a torch checkpoint/);
});

test('a pathologically deep object graph fails with a named error, not a stack overflow', async () => {
  const depth = 200_000;
  const bytes = new Uint8Array(2 + depth + (depth - 1) + 1);
  bytes.set([0x80, 2]);
  bytes.fill(0x5d, 2, 2 + depth); // EMPTY_LIST x depth
  bytes.fill(0x61, 2 + depth, 2 + 2 * depth - 1); // APPEND: nest each list into the one below
  bytes[bytes.length - 1] = 0x2e; // STOP
  await rejectsBytes(bytes, /nested too deeply/);
});
