/**
 * Operators against PyTorch 1.13 (fixtures from scripts/fixtures/physics_fixtures.py):
 * antialiased bicubic downsampling, bicubic upsampling, Gaussian blur with reflect / zero padding.
 * Tolerance: max abs error < 1e-5 on inputs in [-1, 1].
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import { decodeArray, decodeTensor4d, loadFixture, maxAbsDiff, type EncodedArray } from './fixture-io.js';
import { SuperResolutionOperator } from '../../src/physics/sr.js';
import { GaussianBlurOperator, type BlurPadding } from '../../src/physics/blur.js';
import { bicubicUpsample } from '../../src/physics/bicubic.js';
import { Rng } from '../../src/util/random.js';

interface Fixture {
  cases: {
    sr: { factor: number; x: EncodedArray; y: EncodedArray }[];
    upsample: { factor: number; x: EncodedArray; y: EncodedArray }[];
    blur: { size: number; sigma: number; padding: BlurPadding; x: EncodedArray; y: EncodedArray }[];
  };
}

const fixture = loadFixture<Fixture>('physics/operators.json');
const TOL = 1e-5;

for (const backend of TEST_BACKENDS) {
  test(`SR forward matches F.interpolate(bicubic, antialias=True) [${backend}]`, async (t) => {
    await useBackend(backend);
    for (const c of fixture.cases.sr) {
      const x = decodeTensor4d(c.x);
      const [, h, w, ch] = x.shape;
      const op = SuperResolutionOperator.measure(
        tf.slice(x, [0, 0, 0, 0], [1, h, w, ch]),
        { factor: c.factor },
        new Rng(1),
      );
      const y = op.forward(x);
      assert.deepEqual(y.shape, c.y.shape);
      const err = maxAbsDiff(y.dataSync(), decodeArray(c.y));
      assert.ok(err < TOL, `${c.x.shape.join('x')} /${c.factor}: max abs error ${err}`);
      t.diagnostic(`${c.x.shape.join('x')} /${c.factor}: max abs error ${err}`);
      tf.dispose([x, y]);
      op.dispose();
    }
  });

  test(`bicubic upsampling matches F.interpolate(bicubic) [${backend}]`, async (t) => {
    await useBackend(backend);
    for (const c of fixture.cases.upsample) {
      const x = decodeTensor4d(c.x);
      const y = bicubicUpsample(x, c.factor);
      assert.deepEqual(y.shape, c.y.shape);
      const err = maxAbsDiff(y.dataSync(), decodeArray(c.y));
      assert.ok(err < TOL, `${c.x.shape.join('x')} x${c.factor}: max abs error ${err}`);
      t.diagnostic(`${c.x.shape.join('x')} x${c.factor}: max abs error ${err}`);
      tf.dispose([x, y]);
    }
  });

  test(`Gaussian blur matches F.pad + conv2d [${backend}]`, async (t) => {
    await useBackend(backend);
    for (const c of fixture.cases.blur) {
      const x = decodeTensor4d(c.x);
      const [, h, w, ch] = x.shape;
      const first = tf.slice(x, [0, 0, 0, 0], [1, h, w, ch]);
      const op = GaussianBlurOperator.measure(
        first,
        { size: c.size, sigma: c.sigma, padding: c.padding },
        new Rng(1),
      );
      const y = op.forward(x);
      assert.deepEqual(y.shape, c.y.shape);
      const err = maxAbsDiff(y.dataSync(), decodeArray(c.y));
      assert.ok(err < TOL, `${c.x.shape.join('x')} size ${c.size} ${c.padding}: max abs error ${err}`);
      t.diagnostic(`${c.x.shape.join('x')} size ${c.size} ${c.padding}: max abs error ${err}`);
      tf.dispose([x, y, first]);
      op.dispose();
    }
  });
}
