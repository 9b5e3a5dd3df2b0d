/**
 * QkvSelfAttention (fused qkv projection in each codebase's channel layout, multi-head softmax
 * attention) against a float64 reference computed from the checkpoint-layout weight with the
 * layout's index formula; values and input gradient (by central differences of the float64
 * reference along a random direction).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../src/util/random.js';
import { relErr, TEST_BACKENDS, useBackend } from '../helpers/backends.js';
import { QkvSelfAttention, qkvChannel, type QkvLayout } from '../../src/networks/unet-attention.js';
import { WeightStore } from '../../src/networks/weights.js';

/** Attention output [n, tokens, c] in float64 from x [n, tokens, c] and the fused weight [3c, c], bias [3c]. */
function reference(
  x: Float64Array,
  w: Float32Array,
  b: Float32Array,
  n: number,
  tokens: number,
  c: number,
  heads: number,
  layout: QkvLayout,
): Float64Array {
  const qkv = new Float64Array(n * tokens * 3 * c);
  for (let r = 0; r < n * tokens; r++)
    for (let o = 0; o < 3 * c; o++) {
      let s = b[o] as number;
      for (let i = 0; i < c; i++) s += (w[o * c + i] as number) * (x[r * c + i] as number);
      qkv[r * 3 * c + o] = s;
    }
  const ch = c / heads;
  const at = (bi: number, t: number, j: number, h: number, k: number) =>
    qkv[(bi * tokens + t) * 3 * c + qkvChannel(layout, j, h, k, heads, ch)] as number;
  const out = new Float64Array(n * tokens * c);
  for (let bi = 0; bi < n; bi++)
    for (let h = 0; h < heads; h++)
      for (let tq = 0; tq < tokens; tq++) {
        const logits = new Float64Array(tokens);
        for (let tk = 0; tk < tokens; tk++) {
          let s = 0;
          for (let k = 0; k < ch; k++) s += at(bi, tq, 0, h, k) * at(bi, tk, 1, h, k);
          logits[tk] = s / Math.sqrt(ch);
        }
        const m = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - m));
        const z = e.reduce((p, q) => p + q, 0);
        for (let k = 0; k < ch; k++) {
          let s = 0;
          for (let tk = 0; tk < tokens; tk++) s += ((e[tk] as number) / z) * at(bi, tk, 2, h, k);
          out[(bi * tokens + tq) * c + h * ch + k] = s;
        }
      }
  return out;
}

/** Our formula for the qkv channel index, checked against the PyTorch reshapes it stands for. */
test('qkvChannel follows the reshape/split order of each codebase', () => {
  const heads = 2;
  const ch = 3;
  const c = heads * ch;
  // Legacy: reshape(B*heads, 3*ch, T).split(ch): head-major, then q/k/v, then channel.
  assert.equal(qkvChannel('head-qkv-channel', 1, 1, 2, heads, ch), 1 * 3 * ch + 1 * ch + 2);
  // New order: chunk(3) first, then view(B*heads, ch, T).
  assert.equal(qkvChannel('qkv-head-channel', 2, 1, 0, heads, ch), 2 * c + 1 * ch + 0);
  // EDM: reshape(B*heads, ch, 3, -1).unbind(2): q/k/v innermost.
  assert.equal(qkvChannel('head-channel-qkv', 1, 1, 2, heads, ch), (1 * ch + 2) * 3 + 1);
});

for (const backend of TEST_BACKENDS) {
  for (const [layout, tail] of [
    ['head-qkv-channel', [1]],
    ['qkv-head-channel', [1]],
    ['head-channel-qkv', [1, 1]],
  ] as [QkvLayout, number[]][]) {
    test(`QkvSelfAttention, ${layout}: values and input gradient vs float64 (${backend})`, async () => {
      await useBackend(backend);
      const rng = new Rng(11);
      const [n, h, w, c, heads] = [2, 3, 2, 12, 3];
      const tokens = h * w;
      const weight = rng.normalArray(3 * c * c).map((v) => v / Math.sqrt(c));
      const bias = rng.normalArray(3 * c).map((v) => 0.1 * v);
      const store = new WeightStore(
        new Map([
          ['attn.qkv.weight', { dtype: 'float32' as const, shape: [3 * c, c, ...tail], data: weight }],
          ['attn.qkv.bias', { dtype: 'float32' as const, shape: [3 * c], data: bias }],
        ]),
      );
      const attn = new QkvSelfAttention(store, 'attn.qkv', c, heads, layout, tail);
      store.finish('attention test');
      const xv = rng.normalArray(n * tokens * c);
      const rv = rng.normalArray(n * tokens * c);
      const x = tf.tensor4d(xv, [n, h, w, c]);
      const r = tf.tensor4d(rv, [n, h, w, c]);
      const got = attn.apply(x);
      const ref = (xs: Float64Array) => reference(xs, weight, bias, n, tokens, c, heads, layout);
      const err = relErr(got.dataSync(), ref(Float64Array.from(xv)));
      assert.ok(err < 1e-5, `value rel err ${err}`);

      // Directional derivative <grad, d> against a central difference of the float64 reference.
      const g = tf
        .grad((v: tf.Tensor) => tf.sum(tf.mul(attn.apply(v as tf.Tensor4D), r)))(x)
        .dataSync() as Float32Array;
      const d = rng.normalArray(xv.length);
      const objective = (sign: number, eps: number) => {
        const xs = Float64Array.from(xv, (v, i) => v + sign * eps * (d[i] as number));
        return ref(xs).reduce((acc, v, i) => acc + v * (rv[i] as number), 0);
      };
      const fd = (objective(1, 1e-5) - objective(-1, 1e-5)) / 2e-5;
      const ad = g.reduce((acc, v, i) => acc + v * (d[i] as number), 0);
      assert.ok(
        Math.abs(ad - fd) < 1e-4 * Math.max(1, Math.abs(fd)),
        `directional derivative ${ad} vs ${fd}`,
      );
      tf.dispose([x, r, got]);
      store.dispose();
    });
  }
}
