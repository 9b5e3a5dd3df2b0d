/**
 * Corrupt weights never load: a model folder records each weight file's sha256 in model.yaml when
 * it is written and checks it on load (one flipped bit is refused), non-finite weights are refused,
 * and a folder written before digests were recorded still loads (its finiteness checked).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { loadModelFolder, writeModelFolder } from '../../src/models/folder.js';
import { REPO, tempDir } from '../engine/helpers.js';
import { writeTinyEdm } from '../models/tiny-models.js';

const dir = await tempDir();

test('model.yaml records the sha256 of its weights; one flipped bit is refused in one line', async () => {
  const folder = await writeTinyEdm(dir, 'flip');
  const yaml = await readFile(path.join(folder, 'model.yaml'), 'utf8');
  const bytes = await readFile(path.join(folder, 'weights.safetensors'));
  const sha = createHash('sha256').update(bytes).digest('hex');
  assert.match(yaml, new RegExp(`sha256:\\n  weights\\.safetensors: ${sha}\\n`));
  await loadModelFolder(folder);
  bytes[bytes.length - 5] = (bytes[bytes.length - 5] as number) ^ 0x10; // inside the last tensor's data
  await writeFile(path.join(folder, 'weights.safetensors'), bytes);
  await assert.rejects(loadModelFolder(folder), (e: unknown) => {
    assert.ok(e instanceof Error);
    assert.match(
      e.message,
      /weights\.safetensors: sha256 [0-9a-f]{12}\S* does not match [0-9a-f]{12}\S* recorded in .*model\.yaml \(the file is corrupt or was changed\)$/,
    );
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
});

test('a NaN or infinite weight is refused, naming the tensor', async () => {
  const folder = await writeTinyEdm(dir, 'nan');
  const { tensors, manifest } = await loadModelFolder(folder);
  const [name, t] = [...tensors].find(([, v]) => v.data instanceof Float32Array && v.data.length > 3) as [
    string,
    { data: Float32Array },
  ];
  t.data[2] = Number.NaN;
  const bad = path.join(dir, 'nan-written');
  await writeModelFolder(bad, manifest, tensors);
  await assert.rejects(
    loadModelFolder(bad),
    new RegExp(`weights\\.safetensors: tensor '${name.replaceAll('.', '\\.')}' holds 1 non-finite value`),
  );
});

test('a folder written before digests were recorded still loads; its finiteness is checked', async () => {
  const folder = await writeTinyEdm(dir, 'old');
  const file = path.join(folder, 'model.yaml');
  const yaml = await readFile(file, 'utf8');
  await writeFile(file, yaml.replace(/sha256:\n( {2}.*\n)+/, ''));
  const loaded = await loadModelFolder(folder);
  assert.equal(loaded.manifest.sha256, undefined);
});

test('the embedded models record their digests and verify', async () => {
  for (const name of await readdir(path.join(REPO, 'models'))) {
    const folder = path.join(REPO, 'models', name);
    const loaded = await loadModelFolder(folder);
    assert.ok(loaded.manifest.sha256?.['weights.safetensors'], `${name} records its sha256`);
  }
});
