/**
 * LPIPS (SqueezeNet) against the LPIPS README's reference values and a float64 PyTorch fixture
 * (scripts/fixtures/lpips_fixtures.py): the distances of the official example images, of grayscale
 * 32x32 pairs, and the input gradient. Tolerances: 1e-4 absolute on distances (float32 through
 * 26 convolutions), 1e-3 relative (to the largest entry) on the gradient. Also: the importer's
 * checks, bad inputs, and tensor hygiene. Uses the official weights in ../shared/reference/lpips
 * (third-party data, not part of the product): skipped when they are absent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, relErr, useBackend } from '../helpers/backends.js';
import { decodeTensor4d, loadFixture, type EncodedArray } from '../physics/fixture-io.js';
import { importLpipsSqueeze } from '../../src/models/lpips-import.js';
import { loadModel, type LoadedModel } from '../../src/models/build.js';
import { readImage } from '../../src/io/image.js';
import { squeezeSliceOf } from '../../src/networks/lpips.js';
import { LPIPS_REF, importReferenceLpips, lpipsSkip as skip } from '../helpers/lpips.js';

const REF = LPIPS_REF;

interface LpipsFixture {
  example: { d_ref_p0: number; d_ref_p1: number };
  gray: { a: EncodedArray; b: EncodedArray; distance: number[]; grad_a: EncodedArray };
}

const tmp = mkdtempSync(path.join(tmpdir(), 'flow-lpips-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
let folder: string | undefined;

async function importOnce(): Promise<string> {
  if (!folder) {
    const out = path.join(tmp, 'lpips-squeeze');
    await importReferenceLpips(out);
    folder = out;
  }
  return folder;
}

test('SqueezeNet features index -> LPIPS slice', () => {
  assert.deepEqual(
    Array.from({ length: 13 }, (_, i) => squeezeSliceOf(i)),
    [1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 5, 6, 7],
  );
});

for (const backend of TEST_BACKENDS) {
  test(
    `[${backend}] LPIPS squeeze: README values, float64 PyTorch distances and input gradient`,
    { skip },
    async () => {
      await useBackend(backend);
      const fixture = loadFixture<LpipsFixture>('metric/lpips.json');
      const start = tf.memory().numTensors;
      const model: LoadedModel = await loadModel(await importOnce());
      assert.equal(model.kind, 'perceptual');
      const net = model.perceptual;
      assert.ok(net);

      const [ref, p0, p1] = await Promise.all(
        ['ex_ref.png', 'ex_p0.png', 'ex_p1.png'].map((f) => readImage(path.join(REF, f), { channels: 3 })),
      );
      const left = tf.concat([ref, ref]) as tf.Tensor4D;
      const right = tf.concat([p0, p1]) as tf.Tensor4D;
      const d = net.distance(left, right);
      const [d0, d1] = Array.from(await d.data());
      // The LPIPS README's values, given to 4 decimals.
      assert.ok(Math.abs((d0 as number) - 0.711) < 6e-5, `d(ref, p0) = ${d0}, README 0.7110`);
      assert.ok(Math.abs((d1 as number) - 0.1479) < 6e-5, `d(ref, p1) = ${d1}, README 0.1479`);
      assert.ok(Math.abs((d0 as number) - fixture.example.d_ref_p0) < 1e-4);
      assert.ok(Math.abs((d1 as number) - fixture.example.d_ref_p1) < 1e-4);
      tf.dispose([ref, p0, p1, left, right, d]);

      // Grayscale 32x32 (repeated to RGB), and the gradient with respect to the first image.
      const a = decodeTensor4d(fixture.gray.a);
      const b = decodeTensor4d(fixture.gray.b);
      const dist = net.distance(a, b);
      const got = Array.from(await dist.data());
      got.forEach((v, i) =>
        assert.ok(Math.abs(v - (fixture.gray.distance[i] as number)) < 1e-4, `gray pair ${i}: ${v}`),
      );
      const grad = tf.grad((x: tf.Tensor) => tf.sum(net.distance(x as tf.Tensor4D, b)))(a);
      const want = decodeTensor4d(fixture.gray.grad_a);
      const err = relErr(await grad.data(), await want.data());
      assert.ok(err < 1e-3, `input gradient relative error ${err}`);
      // Identical images are at distance 0, with a finite gradient (the official form gives NaN
      // wherever a feature vector is exactly zero; see the module notes).
      const self = tf.grad((x: tf.Tensor) => tf.sum(net.distance(x as tf.Tensor4D, a)))(a);
      assert.ok((await self.data()).every(Number.isFinite), 'finite gradient at d = 0');
      const zero = net.distance(a, a);
      assert.ok(Math.abs((await zero.data())[0] as number) < 1e-9);
      tf.dispose([a, b, dist, grad, want, self, zero]);
      model.dispose();
      // Weights and the flipped kernels cached for input gradients go with the model.
      assert.equal(tf.memory().numTensors, start, 'LPIPS leaked tensors');
    },
  );
}

test('LPIPS: bad inputs and bad weight files give one-line errors', { skip }, async () => {
  await useBackend('wasm');
  const model = await loadModel(await importOnce());
  const net = model.perceptual;
  assert.ok(net);
  const two = tf.zeros([1, 32, 32, 2]) as tf.Tensor4D;
  assert.throws(() => net.distance(two, two), /LPIPS: images need 1 or 3 channels, got 2/);
  // 16 x 16 is one short: the last ceil-mode pooling would get a 1 x 1 input and have no output.
  const tiny = tf.zeros([1, 16, 16, 1]) as tf.Tensor4D;
  assert.throws(() => net.distance(tiny, tiny), /at least 17x17.*got 16x16/);
  const smallest = tf.zeros([1, 17, 17, 1]) as tf.Tensor4D;
  const dz = net.distance(smallest, smallest);
  assert.equal((await dz.data())[0], 0);
  tf.dispose([smallest, dz]);
  const x = tf.zeros([1, 32, 32, 1]) as tf.Tensor4D;
  const y = tf.zeros([2, 32, 32, 1]) as tf.Tensor4D;
  assert.throws(() => net.distance(x, y), /different shapes/);
  tf.dispose([two, tiny, x, y]);
  model.dispose();

  // The two files swapped: the linear weights are not backbone parameters.
  await assert.rejects(
    importLpipsSqueeze({
      lin: path.join(REF, 'squeeze.backbone.pth'),
      backbone: path.join(REF, 'squeeze.pth'),
      out: path.join(tmp, 'swapped'),
    }),
    /squeeze\.pth: key 'lin0\.model\.1\.weight' is not a SqueezeNet features parameter/,
  );
  // The backbone given twice: its keys are not linear weights.
  await assert.rejects(
    importLpipsSqueeze({
      lin: path.join(REF, 'squeeze.backbone.pth'),
      backbone: path.join(REF, 'squeeze.backbone.pth'),
      out: path.join(tmp, 'twice'),
    }),
    /squeeze\.backbone\.pth: key '0\.weight' is not an LPIPS linear weight/,
  );
  // Another network's linear weights (AlexNet's five layers): missing and mis-shaped keys named.
  await assert.rejects(
    importLpipsSqueeze({
      lin: path.join(REF, 'alex.pth'),
      backbone: path.join(REF, 'squeeze.backbone.pth'),
      out: path.join(tmp, 'alex'),
    }),
    /missing.*lin5\.model\.1\.weight/s,
  );
  // A truncated backbone is refused by the checkpoint reader, naming the file.
  const cut = path.join(tmp, 'cut.pth');
  const { readFileSync } = await import('node:fs');
  writeFileSync(cut, readFileSync(path.join(REF, 'squeeze.backbone.pth')).subarray(0, 100_000));
  await assert.rejects(
    importLpipsSqueeze({ lin: path.join(REF, 'squeeze.pth'), backbone: cut, out: path.join(tmp, 'cut') }),
    /cut\.pth/,
  );
  for (const bad of ['swapped', 'twice', 'alex', 'cut'])
    assert.equal(existsSync(path.join(tmp, bad)), false, `${bad}: nothing written`);
});
