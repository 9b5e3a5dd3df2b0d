/**
 * observationImage, the image whose encoding initialises VIPaint (y_0): the masked image with the
 * missing pixels 0 or the observed mean (checked against a float64 loop), bicubic upsampling for
 * super-resolution, and no tensors left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import { InpaintOperator } from '../../src/physics/inpaint.js';
import { SuperResolutionOperator } from '../../src/physics/sr.js';
import { observationImage } from '../../src/physics/observation.js';
import { bicubicUpsample } from '../../src/physics/bicubic.js';
import { Rng } from '../../src/util/random.js';

for (const backend of TEST_BACKENDS) {
  test(`observationImage: zero and observed-mean fills for inpainting, upsampling for SR [${backend}]`, async () => {
    await useBackend(backend);
    const [h, w, c] = [6, 5, 3];
    const rng = new Rng(3);
    const x = Float64Array.from({ length: h * w * c }, () => rng.uniform() * 2 - 1);
    const m = Float64Array.from({ length: h * w }, (_, i) => (i % 3 === 0 || i > 20 ? 1 : 0));
    const xt = tf.tensor4d(Float32Array.from(x), [1, h, w, c]);
    const mt = tf.tensor4d(Float32Array.from(m), [1, h, w, 1]);
    const op = InpaintOperator.measure(xt, mt, {}, new Rng(1));
    const before = tf.memory().numTensors;
    const zeroT = observationImage(op);
    const filledT = observationImage(op, 'observed-mean');
    assert.equal(tf.memory().numTensors, before + 2, 'only the two results are new');
    const zero = zeroT.dataSync();
    const filled = filledT.dataSync();
    tf.dispose([zeroT, filledT]);
    // float64 reference: per channel, the mean of the observed pixels fills the missing ones.
    for (let ch = 0; ch < c; ch++) {
      let sum = 0;
      let count = 0;
      for (let p = 0; p < h * w; p++) {
        if (m[p] !== 1) continue;
        sum += x[p * c + ch] as number;
        count++;
      }
      const mean = sum / count;
      for (let p = 0; p < h * w; p++) {
        const i = p * c + ch;
        const want = m[p] === 1 ? (x[i] as number) : 0;
        assert.ok(Math.abs((zero[i] as number) - want) < 1e-6, `zero fill at ${i}`);
        const wantFilled = m[p] === 1 ? (x[i] as number) : mean;
        assert.ok(Math.abs((filled[i] as number) - wantFilled) < 1e-6, `mean fill at ${i}`);
      }
    }
    // Super-resolution ignores the fill: bicubic upsampling of y either way.
    const big = tf.tensor4d(
      Float32Array.from({ length: 16 * 16 }, (_, i) => Math.sin(i / 7)),
      [1, 16, 16, 1],
    );
    const sr = SuperResolutionOperator.measure(big, { factor: 4 }, new Rng(2));
    const up = tf.tidy(() => tf.clipByValue(bicubicUpsample(sr.y, 4), -1, 1));
    for (const fill of ['zero', 'observed-mean'] as const) {
      const o = observationImage(sr, fill);
      assert.deepEqual(Array.from(o.dataSync()), Array.from(up.dataSync()));
      o.dispose();
    }
    tf.dispose([xt, mt, big, up]);
    op.dispose();
    sr.dispose();
  });
}
