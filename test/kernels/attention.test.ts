/**
 * The fused wasm attention kernels against a float64 closed form (forward) and float64 central
 * differences of it (gradients with respect to q, k and v), and against the composed tfjs ops on
 * the cpu backend at the embedded UNet's attention size.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { relErr, useBackend } from '../helpers/backends.js';
import { Rng } from '../../src/util/random.js';
import { registerWasmKernels } from '../../src/runtime/kernels/index.js';
import { fusedAttention } from '../../src/runtime/kernels/attention.js';
import { attention } from '../../src/networks/layers.js';

interface Case {
  n: number;
  t: number;
  heads: number;
  ch: number;
  scale: number;
  q: number[];
  k: number[];
  v: number[];
  r: number[];
}

function makeCase(rng: Rng, n: number, t: number, heads: number, ch: number): Case {
  const size = n * t * heads * ch;
  const draw = (): number[] => Array.from({ length: size }, () => rng.normal());
  return { n, t, heads, ch, scale: 1 / Math.sqrt(ch), q: draw(), k: draw(), v: draw(), r: draw() };
}

/** float64 softmax(scale q k^T) v per (sample, head), [n, T, heads * ch] layout. */
function reference(c: Case, q: number[], k: number[], v: number[]): number[] {
  const { n, t, heads, ch } = c;
  const width = heads * ch;
  const out = new Array<number>(q.length).fill(0);
  for (let b = 0; b < n; b++)
    for (let h = 0; h < heads; h++) {
      const at = (x: number[], i: number, j: number): number => x[(b * t + i) * width + h * ch + j] as number;
      for (let i = 0; i < t; i++) {
        const logits = Array.from({ length: t }, (_, m) => {
          let s = 0;
          for (let j = 0; j < ch; j++) s += at(q, i, j) * at(k, m, j);
          return c.scale * s;
        });
        const top = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - top));
        const z = e.reduce((a, b2) => a + b2, 0);
        for (let j = 0; j < ch; j++) {
          let s = 0;
          for (let m = 0; m < t; m++) s += ((e[m] as number) / z) * at(v, m, j);
          out[(b * t + i) * width + h * ch + j] = s;
        }
      }
    }
  return out;
}

function numericGrad(c: Case, which: 'q' | 'k' | 'v'): number[] {
  const step = 1e-5;
  const loss = (x: number[]): number => {
    const args = { q: c.q, k: c.k, v: c.v, [which]: x };
    return reference(c, args.q, args.k, args.v).reduce((s, y, i) => s + y * (c.r[i] as number), 0);
  };
  const base = c[which];
  return base.map((_, i) => {
    const plus = base.slice();
    const minus = base.slice();
    plus[i] = (plus[i] as number) + step;
    minus[i] = (minus[i] as number) - step;
    return (loss(plus) - loss(minus)) / (2 * step);
  });
}

test('fused attention on wasm equals the float64 closed form, forward and gradients', async () => {
  await useBackend('wasm');
  registerWasmKernels();
  const rng = new Rng(3);
  for (const c of [makeCase(rng, 2, 3, 2, 2), makeCase(rng, 1, 5, 1, 3), makeCase(rng, 3, 4, 3, 1)]) {
    const shape: [number, number, number] = [c.n, c.t, c.heads * c.ch];
    const got = tf.tidy(() => {
      const [q, k, v, r] = [c.q, c.k, c.v, c.r].map((x) => tf.tensor3d(x, shape));
      const run = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor): tf.Tensor3D => {
        const y = fusedAttention(a as tf.Tensor3D, b as tf.Tensor3D, d as tf.Tensor3D, c.heads, c.scale);
        assert.ok(y, 'the fused kernel is registered on wasm');
        return y;
      };
      const grads = tf.grads((a, b, d) => tf.sum(tf.mul(run(a, b, d), r as tf.Tensor)))([
        q as tf.Tensor,
        k as tf.Tensor,
        v as tf.Tensor,
      ]);
      return { y: Array.from(run(q!, k!, v!).dataSync()), g: grads.map((g) => Array.from(g.dataSync())) };
    });
    const label = `n ${c.n} T ${c.t} heads ${c.heads} ch ${c.ch}`;
    const ey = relErr(got.y, reference(c, c.q, c.k, c.v));
    assert.ok(ey < 1e-6, `forward ${label}: ${ey}`);
    (['q', 'k', 'v'] as const).forEach((which, i) => {
      const e = relErr(got.g[i] as number[], numericGrad(c, which));
      assert.ok(e < 1e-5, `gradient ${which} ${label}: ${e}`);
    });
  }
});

async function attentionOn(backend: 'wasm' | 'cpu', c: Case): Promise<number[][]> {
  await useBackend(backend);
  if (backend === 'wasm') registerWasmKernels();
  return tf.tidy(() => {
    const shape: [number, number, number] = [c.n, c.t, c.ch];
    const [q, k, v, r] = [c.q, c.k, c.v, c.r].map((x) => tf.tensor3d(x, shape)) as tf.Tensor3D[];
    const f = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor): tf.Tensor =>
      attention(a as tf.Tensor3D, b as tf.Tensor3D, d as tf.Tensor3D, c.scale);
    const grads = tf.grads((a, b, d) => tf.sum(tf.mul(f(a, b, d), r as tf.Tensor)))([
      q as tf.Tensor,
      k as tf.Tensor,
      v as tf.Tensor,
    ]);
    return [Array.from(f(q!, k!, v!).dataSync()), ...grads.map((g) => Array.from(g.dataSync()))];
  });
}

test('layers.attention: fused on wasm equals the composed ops on cpu (decoder size)', async () => {
  const c = makeCase(new Rng(9), 4, 64, 1, 64);
  const wasm = await attentionOn('wasm', c);
  const cpu = await attentionOn('cpu', c);
  ['output', 'dq', 'dk', 'dv'].forEach((what, i) => {
    const e = relErr(wasm[i] as number[], cpu[i] as number[]);
    assert.ok(e < 1e-5, `${what}: ${e}`);
  });
});
