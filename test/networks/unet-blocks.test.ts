/**
 * Multi-head attention for the three qkv channel layouts of openaimodel (legacy, new order) and
 * EDM against a float64 reference written from the index formulas.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../src/util/random.js';
import { relErr, TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import { multiHeadAttention, type QkvLayout } from '../../src/networks/unet-blocks.js';

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
