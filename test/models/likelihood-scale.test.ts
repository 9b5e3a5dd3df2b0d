/**
 * The likelihood scale b (docs/method.md): the pixel std of a prior's data, checked against an
 * independent float64 computation from the raw Fashion-MNIST bytes and a closed form; recorded in
 * model.yaml (comments kept, digest changed, validated when read); refusals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { loadModelFolder, ModelFolderError } from '../../src/models/folder.js';
import { loadScaleImages, pixelStd } from '../../src/models/likelihood-scale.js';
import { likelihoodScaleCommand } from '../../src/cli/likelihood-scale-command.js';
import { initBackend } from '../../src/runtime/backend.js';
import { REPO, tempDir } from '../engine/helpers.js';
import { writeTinyEdm } from './tiny-models.js';

const FIXTURE = path.join(REPO, 'test/fixtures/fashion');
process.env.FASHION_MNIST_DIR = FIXTURE;

/** float64 std (N - 1) of the padded, rescaled images by E[x^2] - E[x]^2, straight from the IDX bytes. */
async function referenceStd(count: number, dir = FIXTURE): Promise<number> {
  const bytes = gunzipSync(await readFile(path.join(dir, 'train-images-idx3-ubyte.gz')));
  const perImage = 32 * 32;
  const n = count * perImage;
  const padding = count * (perImage - 28 * 28); // background pixels, value -1
  let sum = -padding;
  let sumSq = padding;
  for (let i = 16; i < 16 + count * 784; i++) {
    const v = (bytes[i] as number) / 127.5 - 1;
    sum += v;
    sumSq += v * v;
  }
  return Math.sqrt((sumSq - (sum * sum) / n) / (n - 1));
}

test('pixelStd: closed form and the Fashion-MNIST fixture against float64 from the raw bytes', async () => {
  await initBackend('wasm');
  // Half the pixels -1, half +1: mean 0, std sqrt(n / (n - 1)) with the N - 1 divisor.
  const half = new Float32Array(50).fill(-1);
  const other = new Float32Array(50).fill(1);
  assert.ok(Math.abs(pixelStd([half, other]) - Math.sqrt(100 / 99)) < 1e-15);
  const set = await loadScaleImages('fashion-mnist:train[0:8]', { count: 8 });
  assert.deepEqual(set.shape, [32, 32, 1]);
  const got = pixelStd(set.images);
  const want = await referenceStd(8);
  // The images are float32 (byte / 127.5 - 1 rounded), the reference float64: ~1e-8 apart.
  assert.ok(Math.abs(got - want) < 1e-7, `b ${got} vs float64 reference ${want}`);
  assert.throws(() => pixelStd([new Float32Array(1)]), /at least 2 pixels/);
});

test('flow likelihood-scale --write records b in model.yaml, keeps its comments, changes the digest, is validated on read', async () => {
  await initBackend('wasm');
  const dir = await tempDir();
  const edm = await writeTinyEdm(dir); // 16 x 16 x 1 data
  const before = await loadModelFolder(edm);
  assert.equal(before.manifest.likelihoodScale, undefined);
  const images = path.join(REPO, 'assets/images/64/*.png');
  const out = await likelihoodScaleCommand(images, { count: 2, write: edm });
  assert.match(out, /wrote likelihoodScale\.b = [0-9.]+ to /);
  const after = await loadModelFolder(edm);
  const rec = after.manifest.likelihoodScale;
  assert.ok(rec);
  assert.equal(rec.count, 2);
  assert.equal(rec.images, images);
  const set = await loadScaleImages(images, { count: 2, size: 16, channels: 1 });
  assert.ok(Math.abs(rec.b - pixelStd(set.images)) < 1e-5 * rec.b, 'b rounded to 6 significant digits');
  assert.notEqual(after.digest, before.digest, 'model.yaml is part of the digest: caches are keyed by b');
  const yaml = await readFile(path.join(edm, 'model.yaml'), 'utf8');
  assert.match(yaml, /^# flow model folder manifest/, 'the comment stays');

  // Validated when read: b <= 0, unknown keys, on a model that is not a prior.
  await writeFile(path.join(edm, 'model.yaml'), yaml.replace(/\n {2}b: [0-9.e-]+/, '\n  b: 0'));
  await assert.rejects(loadModelFolder(edm), (e: unknown) => {
    assert.ok(e instanceof ModelFolderError);
    assert.match(e.message, /model\.yaml:\d+:\d+: 'likelihoodScale\.b' must be > 0/);
    return true;
  });
  await writeFile(path.join(edm, 'model.yaml'), yaml.replace(/kind: pixel-diffusion/, 'kind: classifier'));
  await assert.rejects(loadModelFolder(edm), /likelihoodScale belongs to diffusion priors/);
  await writeFile(path.join(edm, 'model.yaml'), yaml);

  // Refusals: images of another shape, too few images, a model that is not a prior.
  await assert.rejects(
    likelihoodScaleCommand('fashion-mnist:train[0:8]', { count: 8, write: edm }),
    /the model's data is 16x16x1 but the images are 32x32x1/,
  );
  await assert.rejects(
    likelihoodScaleCommand('fashion-mnist:train[0:8]', { count: 100 }),
    /gives 8 image\(s\), 100 wanted/,
  );
  await assert.rejects(
    likelihoodScaleCommand(images, { count: 1, write: path.join(REPO, 'models/fashion-classifier') }),
    /is a classifier, not a diffusion prior/,
  );
  assert.equal(await readFile(path.join(edm, 'model.yaml'), 'utf8'), yaml, 'a refused write leaves the file');
});

const DATASET = '/usr/share/datasets/fashion-mnist';
test(
  'the embedded priors carry b of 100 Fashion-MNIST training images (float64 reference from the dataset)',
  { skip: existsSync(DATASET) ? false : `needs the Fashion-MNIST dataset in ${DATASET}` },
  async () => {
    const want = await referenceStd(100, DATASET);
    for (const name of ['fashion-ldm', 'fashion-edm']) {
      const rec = (await loadModelFolder(path.join(REPO, 'models', name))).manifest.likelihoodScale;
      assert.ok(rec, `${name} has a likelihoodScale`);
      assert.equal(rec.images, 'fashion-mnist:train[0:100]');
      assert.equal(rec.count, 100);
      assert.ok(Math.abs(rec.b - want) < 1e-6, // 6 significant digits
        `${name}: b ${rec.b} vs ${want}`);
    }
  },
);

test('the command line: b on stdout, a bad path is one line on stderr and exit 1', async () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO, 'src/cli/bin.ts'), 'likelihood-scale', ...args], {
      cwd: REPO,
      encoding: 'utf8',
      env: { ...process.env, FASHION_MNIST_DIR: FIXTURE, FORCE_COLOR: '0' },
    });
  const ok = run('fashion-mnist:train[0:8]', '--count', '8');
  assert.equal(ok.status, 0, ok.stderr);
  const b = Number(/^b = ([0-9.]+) \(pixel std of 8 images of 32x32x1/.exec(ok.stdout)?.[1]);
  assert.ok(Math.abs(b - (await referenceStd(8))) < 1e-6, ok.stdout);
  const bad = run(path.join(REPO, 'no-such-folder/*.png'));
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /^flow: image pattern '.*no-such-folder\/\*\.png' matches no files/);
});
