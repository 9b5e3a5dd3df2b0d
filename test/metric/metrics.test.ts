/**
 * PSNR and SSIM against scikit-image 0.19 (fixtures from scripts/fixtures/metric_fixtures.py),
 * whole image and restricted to a mask's missing region. Tolerances: |ours - skimage| < 1e-3 dB for
 * PSNR and < 1e-4 for SSIM. Plus closed forms and tensor hygiene.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import { decodeTensor4d, loadFixture, type EncodedArray } from '../physics/fixture-io.js';
import { psnr } from '../../src/metric/psnr.js';
import { ssim } from '../../src/metric/ssim.js';

interface MetricCase {
  reference: EncodedArray;
  images: EncodedArray;
  mask: EncodedArray;
  expected: { psnr: number[]; ssim: number[]; psnr_region: number[]; ssim_region: number[] };
}

const fixture = loadFixture<{ cases: MetricCase[] }>('metric/metrics.json');

for (const backend of TEST_BACKENDS) {
  test(`PSNR and SSIM match scikit-image, whole image and missing region [${backend}]`, async (t) => {
    await useBackend(backend);
    for (const c of fixture.cases) {
      const ref = decodeTensor4d(c.reference);
      const images = decodeTensor4d(c.images);
      const mask = decodeTensor4d(c.mask);
      const missing = tf.sub(1, mask) as tf.Tensor4D;
      const before = tf.memory().numTensors;
      const got = {
        psnr: psnr(images, ref),
        ssim: ssim(images, ref),
        psnr_region: psnr(images, ref, { region: missing }),
        ssim_region: ssim(images, ref, { region: missing }),
      };
      assert.equal(tf.memory().numTensors, before, 'metrics created tensors');
      const name = c.images.shape.join('x');
      for (const key of ['psnr', 'ssim', 'psnr_region', 'ssim_region'] as const) {
        const tol = key.startsWith('psnr') ? 1e-3 : 1e-4;
        const diffs = got[key].map((v, k) => Math.abs(v - (c.expected[key][k] as number)));
        t.diagnostic(
          `${name} ${key}: ours ${got[key].map((v) => v.toFixed(5)).join(', ')}; max |diff| ${Math.max(...diffs).toExponential(2)}`,
        );
        assert.equal(got[key].length, c.expected[key].length);
        diffs.forEach((d, k) =>
          assert.ok(d < tol, `${name} ${key}[${k}]: ours ${got[key][k]} skimage ${c.expected[key][k]}`),
        );
      }
      tf.dispose([ref, images, mask, missing]);
    }
  });
}

test('closed forms: constant offset PSNR, SSIM of identical images, reference batch N, clipping', async () => {
  await useBackend('cpu');
  tf.tidy(() => closedForms());
});

function closedForms(): void {
  const x = tf.randomUniform([2, 16, 16, 3], -0.8, 0.8, 'float32', 3) as tf.Tensor4D;
  const shifted = tf.add(x, 0.1) as tf.Tensor4D;
  // Offset 0.1 on [-1, 1] is 0.05 on [0, 1]: MSE 0.0025, PSNR = 10 log10(400) (up to the float32
  // rounding of x + 0.1, ~1e-7 relative, i.e. ~1e-6 dB).
  for (const v of psnr(shifted, x)) assert.ok(Math.abs(v - 10 * Math.log10(400)) < 1e-4, `${v}`);
  assert.deepEqual(psnr(x, x), [Infinity, Infinity]);
  for (const v of ssim(x, x)) assert.ok(Math.abs(v - 1) < 1e-12);
  // Reference with batch N pairs sample k with reference k.
  const [a, b] = ssim(x, tf.reverse(x, 0) as tf.Tensor4D);
  assert.ok((a as number) < 0.9 && (b as number) < 0.9);
  // Values beyond [-1, 1] are clipped first: 1.5 counts as 1.
  const ones = tf.ones([1, 12, 12, 1]) as tf.Tensor4D;
  const over = tf.mul(ones, 1.5) as tf.Tensor4D;
  assert.deepEqual(psnr(over, ones), [Infinity]);
  assert.ok(Number.isFinite(psnr(over, ones, { clip: false })[0] as number));
  assert.throws(
    () => ssim(tf.zeros([1, 8, 8, 1]) as tf.Tensor4D, tf.zeros([1, 8, 8, 1]) as tf.Tensor4D),
    /at least 11x11/,
  );
  assert.throws(() => psnr(x, tf.zeros([1, 16, 15, 3]) as tf.Tensor4D), /differ in size/);
  assert.throws(() => psnr(x, x, { region: new Float32Array(256) }), /region is empty/);
}
