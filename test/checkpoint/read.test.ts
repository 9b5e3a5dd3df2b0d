import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readCheckpoint } from '../../src/checkpoint/read.js';
import { readSafetensorsFile } from '../../src/checkpoint/safetensors.js';
import { assertTensorMapsEqual, fixture } from './helpers.js';

test('readCheckpoint recognises safetensors and torch files by content and reads them alike', async () => {
  const expected = await readSafetensorsFile(fixture('basic_expected.safetensors'));
  const st = await readCheckpoint(fixture('basic_dtypes.safetensors'));
  assert.equal(st.format, 'safetensors');
  assert.deepEqual(st.metadata, { made_by: 'checkpoint_fixtures.py' });
  assertTensorMapsEqual(st.tensors, expected, 'safetensors');
  for (const [file, format] of [
    ['basic_zip.pt', 'torch-zip'],
    ['basic_legacy.pt', 'torch-legacy'],
  ] as const) {
    const t = await readCheckpoint(fixture(file));
    assert.equal(t.format, format);
    assertTensorMapsEqual(t.tensors, expected, file);
  }
  const ldm = await readCheckpoint(fixture('lightning_ldm.ckpt'));
  assert.equal(ldm.metadata['global_step'], '1234');
  assert.equal(ldm.torch?.root, 'state_dict');
});
