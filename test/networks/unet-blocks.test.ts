/**
 * UNet building blocks against float64 references written from the formulas: nearest 2x
 * upsampling (values and gradient = 2x2 block sums) and multi-head attention for the three qkv
 * channel layouts of openaimodel (legacy, new order) and EDM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../src/util/random.js';
import { relErr, TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import { multiHeadAttention, upsampleNearest2x, type QkvLayout } from '../../src/networks/unet-blocks.js';

/** Channel index of (j in q/k/v, head, c) in the fused qkv map. */
function qkvIndex(layout: QkvLayout, j: number, head: number, c: number, heads: number, ch: number): number {
  if (layout === 'head-qkv-channel') return (head * 3 + j) * ch + c;
  if (layout === 'qkv-head-channel') return (j * heads + head) * ch + c;
  return (head * ch + c) * 3 + j;
}

function attentionRef(
  qkv: Float32Array,
  n: number,
  tokens: number,
  c: number,
  heads: number,
  layout: QkvLayout,
) {
  const ch = c / heads;
  const out = new Float64Array(n * tokens * c);
  const at = (b: number, t: number, j: number, h: number, k: number) =>
    qkv[(b * tokens + t) * 3 * c + qkvIndex(layout, j, h, k, heads, ch)] as number;
  for (let b = 0; b < n; b++)
    for (let h = 0; h < heads; h++)
      for (let tq = 0; tq < tokens; tq++) {
        const logits = new Float64Array(tokens);
        for (let tk = 0; tk < tokens; tk++) {
          let s = 0;
          for (let k = 0; k < ch; k++) s += at(b, tq, 0, h, k) * at(b, tk, 1, h, k);
          logits[tk] = s / Math.sqrt(ch);
        }
        const m = Math.max(...logits);
        const w = logits.map((l) => Math.exp(l - m));
        const z = w.reduce((p, q) => p + q, 0);
        for (let k = 0; k < ch; k++) {
          let s = 0;
          for (let tk = 0; tk < tokens; tk++) s += ((w[tk] as number) / z) * at(b, tk, 2, h, k);
          out[(b * tokens + tq) * c + h * ch + k] = s;
        }
      }
  return out;
}

for (const backend of TEST_BACKENDS) {
  test(`upsampleNearest2x: values and input gradient (${backend})`, async () => {
    await useBackend(backend);
    const rng = new Rng(5);
    const [n, h, w, c] = [2, 3, 4, 5];
    const x = rng.normalTensor<tf.Tensor4D>([n, h, w, c]);
    const r = rng.normalTensor<tf.Tensor4D>([n, 2 * h, 2 * w, c]);
    const xv = x.dataSync();
    const rv = r.dataSync();
    const up = upsampleNearest2x(x).dataSync();
    const g = tf
      .grad((v: tf.Tensor) => tf.sum(tf.mul(upsampleNearest2x(v as tf.Tensor4D), r)))(x)
      .dataSync();
    const idx = (b: number, i: number, j: number, k: number, hh: number, ww: number) =>
      ((b * hh + i) * ww + j) * c + k;
    for (let b = 0; b < n; b++)
      for (let i = 0; i < 2 * h; i++)
        for (let j = 0; j < 2 * w; j++)
          for (let k = 0; k < c; k++) {
            assert.equal(up[idx(b, i, j, k, 2 * h, 2 * w)], xv[idx(b, i >> 1, j >> 1, k, h, w)]);
          }
    const expected = new Float64Array(n * h * w * c);
    for (let b = 0; b < n; b++)
      for (let i = 0; i < 2 * h; i++)
        for (let j = 0; j < 2 * w; j++)
          for (let k = 0; k < c; k++)
            expected[idx(b, i >> 1, j >> 1, k, h, w)] += rv[idx(b, i, j, k, 2 * h, 2 * w)] as number;
    assert.ok(relErr(g, expected) < 1e-6);
    tf.dispose([x, r]);
  });

  for (const layout of ['head-qkv-channel', 'qkv-head-channel', 'head-channel-qkv'] as const) {
    test(`multiHeadAttention, ${layout} layout, equals a float64 reference (${backend})`, async () => {
      await useBackend(backend);
      const rng = new Rng(11);
      const [n, h, w, c, heads] = [2, 3, 2, 12, 3];
      const qkv = rng.normalTensor<tf.Tensor4D>([n, h, w, 3 * c]);
      const got = multiHeadAttention(qkv, heads, layout);
      assert.deepEqual(got.shape, [n, h, w, c]);
      const err = relErr(
        got.dataSync(),
        attentionRef(qkv.dataSync() as Float32Array, n, h * w, c, heads, layout),
      );
      assert.ok(err < 1e-5, `rel err ${err}`);
      tf.dispose([qkv, got]);
    });
  }
}
