/**
 * The building blocks against naive float64 reference loops written here from the PyTorch
 * definitions (NCHW-indexed conv with explicit padding, biased-variance GroupNorm, ...), on the
 * wasm and cpu backends, plus the input gradients of each block against finite differences of the
 * float64 references.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend, relErr } from '../helpers/backends.js';
import { Rng } from '../../src/util/random.js';
import type { TensorMap } from '../../src/checkpoint/types.js';
import { WeightStore } from '../../src/networks/weights.js';
import {
  Conv2d,
  GroupNorm,
  LayerNorm,
  Linear,
  attention,
  checkpointed,
  avgPool2x,
  silu,
  timestepEmbedding,
  upsampleNearest2x,
} from '../../src/networks/layers.js';

type Arr = Float64Array;

function randArr(rng: Rng, n: number): Float32Array {
  return rng.normalArray(n);
}

function map(entries: Record<string, [number[], Float32Array]>): TensorMap {
  const m: TensorMap = new Map();
  for (const [k, [shape, data]] of Object.entries(entries)) m.set(k, { dtype: 'float32', shape, data });
  return m;
}

/** PyTorch Conv2d in float64: x NHWC, w [out, in, k, k], padding [t, b, l, r]. */
function refConv(
  x: ArrayLike<number>,
  [n, h, wd, ci]: number[],
  w: ArrayLike<number>,
  bias: ArrayLike<number>,
  co: number,
  k: number,
  stride: number,
  [pt, pb, pl, pr]: number[],
): { out: Arr; shape: number[] } {
  const ho = Math.floor((h + pt + pb - k) / stride) + 1;
  const wo = Math.floor((wd + pl + pr - k) / stride) + 1;
  const out = new Float64Array(n * ho * wo * co);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let o = 0; o < co; o++) {
          let s = bias[o] as number;
          for (let di = 0; di < k; di++)
            for (let dj = 0; dj < k; dj++) {
              const yi = i * stride + di - pt;
              const xj = j * stride + dj - pl;
              if (yi < 0 || yi >= h || xj < 0 || xj >= wd) continue;
              for (let c = 0; c < ci; c++) {
                s +=
                  (x[((b * h + yi) * wd + xj) * ci + c] as number) *
                  (w[((o * ci + c) * k + di) * k + dj] as number);
              }
            }
          out[((b * ho + i) * wo + j) * co + o] = s;
        }
  return { out, shape: [n, ho, wo, co] };
}

function refGroupNorm(
  x: ArrayLike<number>,
  [n, h, w, c]: number[],
  g: number,
  eps: number,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
): Arr {
  const out = new Float64Array(x.length);
  const cg = c / g;
  for (let b = 0; b < n; b++)
    for (let gi = 0; gi < g; gi++) {
      const idx: number[] = [];
      for (let p = 0; p < h * w; p++)
        for (let cc = 0; cc < cg; cc++) idx.push((b * h * w + p) * c + gi * cg + cc);
      const mean = idx.reduce((s, i) => s + (x[i] as number), 0) / idx.length;
      const v = idx.reduce((s, i) => s + ((x[i] as number) - mean) ** 2, 0) / idx.length;
      for (const i of idx) {
        const ch = i % c;
        out[i] =
          (((x[i] as number) - mean) / Math.sqrt(v + eps)) * (gamma[ch] as number) + (beta[ch] as number);
      }
    }
  return out;
}

/** Central finite difference of sum(f(x) * r) along a random direction, in float64. */
function fdDirectional(
  f: (x: Arr) => Arr,
  x: Float32Array,
  r: ArrayLike<number>,
  dir: ArrayLike<number>,
): number {
  const h = 1e-4;
  const plus = Float64Array.from(x, (v, i) => v + h * (dir[i] as number));
  const minus = Float64Array.from(x, (v, i) => v - h * (dir[i] as number));
  const fp = f(plus);
  const fm = f(minus);
  let s = 0;
  for (let i = 0; i < fp.length; i++) s += ((fp[i] as number) - (fm[i] as number)) * (r[i] as number);
  return s / (2 * h);
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] Conv2d matches a float64 PyTorch-convention conv (stride 1/2, symmetric and asymmetric pads) incl. input gradient`, async () => {
    await useBackend(backend);
    const rng = new Rng(11);
    const shape = [2, 7, 6, 3];
    const x = randArr(rng, 2 * 7 * 6 * 3);
    const cases: { k: number; stride: number; pad: number | [number, number, number, number] }[] = [
      { k: 3, stride: 1, pad: 1 },
      { k: 3, stride: 2, pad: 1 },
      { k: 3, stride: 2, pad: [0, 1, 0, 1] },
      { k: 1, stride: 1, pad: 0 },
    ];
    for (const { k, stride, pad } of cases) {
      const w = randArr(rng, 5 * 3 * k * k);
      const b = randArr(rng, 5);
      const store = new WeightStore(map({ 'c.weight': [[5, 3, k, k], w], 'c.bias': [[5], b] }));
      const conv = new Conv2d(store, 'c', 3, 5, k, { stride, padding: pad });
      store.finish('conv');
      const pads = typeof pad === 'number' ? [pad, pad, pad, pad] : pad;
      const ref = refConv(x, shape, w, b, 5, k, stride, pads);
      const xt = tf.tensor4d(x, shape as [number, number, number, number]);
      const y = conv.apply(xt);
      assert.deepEqual(y.shape, ref.shape);
      const e = relErr(await y.data(), ref.out);
      assert.ok(e < 1e-5, `k${k} s${stride} pad ${JSON.stringify(pad)}: rel err ${e}`);
      // Input gradient of sum(conv(x) * r): directional derivative vs float64 finite difference.
      const r = randArr(rng, ref.out.length);
      const dir = randArr(rng, x.length);
      const rt = tf.tensor(r, ref.shape);
      // The flipped-kernel gradient path explicitly (apply() uses it only on stock wasm kernels).
      const g = tf.grad((xi) => tf.sum(tf.mul(conv.applyFlippedKernelGrad(xi as tf.Tensor4D), rt)))(xt);
      const got = dot(await g.data(), dir);
      const want = fdDirectional((xx) => refConv(xx, shape, w, b, 5, k, stride, pads).out, x, r, dir);
      assert.ok(
        Math.abs(got - want) < 1e-4 * Math.abs(want) + 1e-3,
        `grad k${k} s${stride}: ${got} vs ${want}`,
      );
      // Elementwise against tfjs' own Conv2DBackpropInput (Conv2d replaces it by a flipped-kernel conv).
      const [pt, pb, pl, pr] = pads as number[];
      const builtin = (xi: tf.Tensor): tf.Tensor => {
        const xp = tf.pad(xi as tf.Tensor4D, [
          [0, 0],
          [pt, pb],
          [pl, pr],
          [0, 0],
        ]);
        const yc = tf.add(tf.conv2d(xp, conv.filter, stride, 'valid'), conv.bias as tf.Tensor1D);
        return tf.sum(tf.mul(yc, rt));
      };
      const gBuiltin = tf.grad(builtin)(xt);
      const eg = relErr(await g.data(), await gBuiltin.data());
      assert.ok(eg < 1e-5, `grad vs tfjs builtin k${k} s${stride}: ${eg}`);
      tf.dispose([xt, y, rt, g, gBuiltin]);
      store.dispose();
    }
  });

  test(`[${backend}] GroupNorm (eps 1e-6 and 1e-5) and LayerNorm match float64 references`, async () => {
    await useBackend(backend);
    const rng = new Rng(12);
    const shape = [2, 4, 5, 8];
    const n = 2 * 4 * 5 * 8;
    // Offset mean and large scale: a one-pass variance would lose digits here.
    const x = Float32Array.from(randArr(rng, n), (v) => 3 + 10 * v);
    const gamma = randArr(rng, 8);
    const beta = randArr(rng, 8);
    for (const eps of [1e-6, 1e-5]) {
      const store = new WeightStore(map({ 'n.weight': [[8], gamma], 'n.bias': [[8], beta] }));
      const gn = new GroupNorm(store, 'n', 4, 8, eps);
      store.finish('gn');
      const xt = tf.tensor4d(x, shape as [number, number, number, number]);
      const y = gn.apply(xt);
      const e = relErr(await y.data(), refGroupNorm(x, shape, 4, eps, gamma, beta));
      assert.ok(e < 1e-5, `groupnorm eps ${eps}: rel err ${e}`);
      const r = randArr(rng, n);
      const dir = randArr(rng, n);
      const rt = tf.tensor(r, shape);
      const g = tf.grad((xi) => tf.sum(tf.mul(gn.apply(xi as tf.Tensor4D), rt)))(xt);
      const got = dot(await g.data(), dir);
      const want = fdDirectional((xx) => refGroupNorm(xx, shape, 4, eps, gamma, beta), x, r, dir);
      assert.ok(Math.abs(got - want) < 1e-3 * Math.abs(want) + 1e-3, `groupnorm grad: ${got} vs ${want}`);
      // Elementwise: the analytic backward against tfjs' automatic gradient of the plain formula.
      const plain = (xi: tf.Tensor): tf.Tensor => {
        const g5 = tf.reshape(xi, [2, 4, 5, 4, 2]);
        const { mean, variance } = tf.moments(g5, [1, 2, 4], true);
        const nrm = tf.reshape(tf.mul(tf.sub(g5, mean), tf.rsqrt(tf.add(variance, eps))), shape);
        return tf.sum(tf.mul(tf.add(tf.mul(nrm, gn.gamma as tf.Tensor), gn.beta as tf.Tensor), rt));
      };
      const gAuto = tf.grad(plain)(xt);
      const eAuto = relErr(await g.data(), await gAuto.data());
      assert.ok(eAuto < 1e-5, `groupnorm analytic vs automatic gradient: ${eAuto}`);
      // SiLU's explicit gradient against the automatic one of x * sigmoid(x).
      const gs = await tf
        .grad((xi) => tf.sum(tf.mul(silu(xi), rt)))(xt)
        .data();
      const gsAuto = await tf
        .grad((xi) => tf.sum(tf.mul(tf.mul(xi, tf.sigmoid(xi)), rt)))(xt)
        .data();
      assert.ok(relErr(gs, gsAuto) < 1e-6, `silu gradient ${relErr(gs, gsAuto)}`);
      tf.dispose([xt, y, rt, g, gAuto]);
      store.dispose();
    }
    // LayerNorm over the last axis == GroupNorm with one group on a [rows, 1, 1, C] view.
    const store = new WeightStore(map({ 'l.weight': [[8], gamma], 'l.bias': [[8], beta] }));
    const ln = new LayerNorm(store, 'l', 8);
    const xt = tf.tensor3d(x, [2, 20, 8]);
    const y = ln.apply(xt);
    const e = relErr(await y.data(), refGroupNorm(x, [40, 1, 1, 8], 1, 1e-5, gamma, beta));
    assert.ok(e < 1e-5, `layernorm rel err ${e}`);
    tf.dispose([xt, y]);
    store.dispose();
  });

  test(`[${backend}] Linear, silu, nearest upsampling, average pooling, attention and timestep embedding`, async () => {
    await useBackend(backend);
    const rng = new Rng(13);
    // Linear on a rank-3 input.
    const w = randArr(rng, 6 * 4);
    const b = randArr(rng, 6);
    const x = randArr(rng, 2 * 3 * 4);
    const store = new WeightStore(map({ 'f.weight': [[6, 4], w], 'f.bias': [[6], b] }));
    const lin = new Linear(store, 'f', 4, 6);
    store.finish('linear');
    const yl = lin.apply(tf.tensor3d(x, [2, 3, 4]));
    assert.deepEqual(yl.shape, [2, 3, 6]);
    const refL = new Float64Array(36);
    for (let r = 0; r < 6; r++)
      for (let o = 0; o < 6; o++) {
        let s = b[o] as number;
        for (let i = 0; i < 4; i++) s += (x[r * 4 + i] as number) * (w[o * 4 + i] as number);
        refL[r * 6 + o] = s;
      }
    assert.ok(relErr(await yl.data(), refL) < 1e-6);
    store.dispose();

    const xs = tf.tensor1d([-3, -0.5, 0, 0.5, 3]);
    const refS = [-3, -0.5, 0, 0.5, 3].map((v) => v / (1 + Math.exp(-v)));
    assert.ok(relErr(await silu(xs).data(), refS) < 1e-6);

    // Upsample: out[i, j] = in[floor(i/2), floor(j/2)]; avg pool of the upsampled image returns the input.
    const img = randArr(rng, 1 * 3 * 2 * 2);
    const it = tf.tensor4d(img, [1, 3, 2, 2]);
    const up = upsampleNearest2x(it);
    assert.deepEqual(up.shape, [1, 6, 4, 2]);
    const ud = await up.data();
    for (let i = 0; i < 6; i++)
      for (let j = 0; j < 4; j++)
        for (let c = 0; c < 2; c++) {
          assert.equal(ud[(i * 4 + j) * 2 + c], img[(Math.floor(i / 2) * 2 + Math.floor(j / 2)) * 2 + c]);
        }
    assert.ok(relErr(await avgPool2x(up).data(), img) < 1e-6);
    // Gradients: upsampling sums the cotangent over each 2x2 block; pooling spreads a quarter of it.
    const rUp = randArr(rng, 6 * 4 * 2);
    const gUp = await tf
      .grad((xi) => tf.sum(tf.mul(upsampleNearest2x(xi as tf.Tensor4D), tf.tensor(rUp, [1, 6, 4, 2]))))(it)
      .data();
    const gPool = await tf
      .grad((xi) => tf.sum(tf.mul(avgPool2x(xi as tf.Tensor4D), it)))(up)
      .data();
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 2; j++)
        for (let c = 0; c < 2; c++) {
          let sum = 0;
          for (const [a, b] of [
            [0, 0],
            [0, 1],
            [1, 0],
            [1, 1],
          ] as const)
            sum += rUp[((2 * i + a) * 4 + 2 * j + b) * 2 + c] as number;
          assert.ok(Math.abs((gUp[(i * 2 + j) * 2 + c] as number) - sum) < 1e-5, 'upsample gradient');
          for (const [a, b] of [
            [0, 0],
            [0, 1],
            [1, 0],
            [1, 1],
          ] as const) {
            const got = gPool[((2 * i + a) * 4 + 2 * j + b) * 2 + c] as number;
            assert.ok(Math.abs(got - (img[(i * 2 + j) * 2 + c] as number) / 4) < 1e-6, 'avg pool gradient');
          }
        }
    const odd = tf.tensor4d(randArr(rng, 5 * 5), [1, 5, 5, 1]);
    const od = await odd.data();
    const pd = await avgPool2x(odd).data();
    assert.equal(pd.length, 4);
    assert.ok(
      Math.abs(
        (pd[3] as number) -
          ((od[12] as number) + (od[13] as number) + (od[17] as number) + (od[18] as number)) / 4,
      ) < 1e-6,
    );

    // Attention against a float64 loop.
    const [B, Nq, Nk, D, Dv] = [2, 3, 4, 5, 2];
    const q = randArr(rng, B * Nq * D);
    const k = randArr(rng, B * Nk * D);
    const v = randArr(rng, B * Nk * Dv);
    const att = attention(
      tf.tensor3d(q, [B, Nq, D]),
      tf.tensor3d(k, [B, Nk, D]),
      tf.tensor3d(v, [B, Nk, Dv]),
    );
    const refA = new Float64Array(B * Nq * Dv);
    for (let bb = 0; bb < B; bb++)
      for (let i = 0; i < Nq; i++) {
        const logits = Array.from({ length: Nk }, (_, j) => {
          let s = 0;
          for (let d = 0; d < D; d++)
            s += (q[(bb * Nq + i) * D + d] as number) * (k[(bb * Nk + j) * D + d] as number);
          return s / Math.sqrt(D);
        });
        const m = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - m));
        const z = e.reduce((p, c) => p + c, 0);
        for (let d = 0; d < Dv; d++) {
          let s = 0;
          for (let j = 0; j < Nk; j++) s += ((e[j] as number) / z) * (v[(bb * Nk + j) * Dv + d] as number);
          refA[(bb * Nq + i) * Dv + d] = s;
        }
      }
    assert.ok(relErr(await att.data(), refA) < 1e-5);

    // Timestep embedding: cos block first, then sin; odd dim gets a zero column.
    const ts = [0, 1, 37, 999];
    for (const dim of [8, 9]) {
      const emb = timestepEmbedding(ts, dim);
      assert.deepEqual(emb.shape, [4, dim]);
      const ed = await emb.data();
      const half = Math.floor(dim / 2);
      const ref = new Float64Array(4 * dim);
      ts.forEach((t, r) => {
        for (let i = 0; i < half; i++) {
          const a = t * Math.exp((-Math.log(10000) * i) / half);
          ref[r * dim + i] = Math.cos(a);
          ref[r * dim + half + i] = Math.sin(a);
        }
      });
      // float32 arguments near t = 999 carry ~6e-5 absolute rounding, hence 2e-4.
      assert.ok(relErr(ed, ref) < 2e-4, `timestep embedding dim ${dim}: ${relErr(ed, ref)}`);
      if (dim === 9) for (let r = 0; r < 4; r++) assert.equal(ed[r * 9 + 8], 0);
    }
  });

  test(`[${backend}] checkpointed(): same gradient as the plain blocks, nested and in sequence, no leaks`, async () => {
    await useBackend(backend);
    const rng = new Rng(15);
    const store = new WeightStore(
      map({
        'a.weight': [[8, 4, 3, 3], randArr(rng, 288)],
        'a.bias': [[8], randArr(rng, 8)],
        'n.weight': [[8], randArr(rng, 8)],
        'n.bias': [[8], randArr(rng, 8)],
        'b.weight': [[4, 8, 3, 3], randArr(rng, 288)],
        'b.bias': [[4], randArr(rng, 4)],
      }),
    );
    const convA = new Conv2d(store, 'a', 4, 8, 3, { padding: 1 });
    const gn = new GroupNorm(store, 'n', 2, 8, 1e-6);
    const convB = new Conv2d(store, 'b', 8, 4, 3, { stride: 2, padding: 1 });
    store.finish('blocks');
    const inner = (x: tf.Tensor4D): tf.Tensor4D => silu(gn.apply(convA.apply(x)));
    const block = (x: tf.Tensor4D): tf.Tensor4D => tf.tidy(() => convB.apply(inner(x)));
    const upBlock = (x: tf.Tensor4D): tf.Tensor4D => tf.tidy(() => upsampleNearest2x(tf.tanh(x)));
    const x = tf.tensor4d(randArr(rng, 2 * 8 * 8 * 4), [2, 8, 8, 4]);
    const r = tf.tensor4d(randArr(rng, 2 * 8 * 8 * 4), [2, 8, 8, 4]);
    // Ops before, between and after the checkpointed parts; the second uses a nested checkpoint.
    const net = (b1: typeof block, b2: typeof block) => (xi: tf.Tensor) =>
      tf.sum(tf.mul(upBlock(b2(b1(tf.mul(xi as tf.Tensor4D, 1.5) as tf.Tensor4D))), r));
    const nestedBlock = (v: tf.Tensor4D): tf.Tensor4D =>
      tf.tidy(() => convB.apply(checkpointed(inner)(upsampleNearest2x(v))));
    const start = tf.memory().numTensors;
    const gPlain = tf.grad(net(block, nestedBlock))(x);
    const gCk = tf.grad(net(checkpointed(block), checkpointed(nestedBlock)))(x);
    const e = relErr(await gCk.data(), await gPlain.data());
    assert.ok(e < 1e-6, `checkpointed gradient differs: ${e}`);
    // Forward values are untouched.
    const y1 = checkpointed(block)(x);
    const y2 = block(x);
    assert.deepEqual(await y1.data(), await y2.data());
    tf.dispose([gPlain, gCk, y1, y2]);
    // +1: the flipped kernel of convA cached by the first gradient (convB has stride 2: none).
    assert.equal(tf.memory().numTensors, start + 1);
    tf.dispose([x, r]);
    store.dispose();
  });

  test(`[${backend}] WeightStore: dispose frees every parameter; blocks leak nothing per call`, async () => {
    await useBackend(backend);
    const start = tf.memory().numTensors;
    const rng = new Rng(14);
    const store = new WeightStore(
      map({
        'c.weight': [[4, 2, 3, 3], randArr(rng, 72)],
        'c.bias': [[4], randArr(rng, 4)],
        'n.weight': [[4], randArr(rng, 4)],
        'n.bias': [[4], randArr(rng, 4)],
      }),
    );
    const conv = new Conv2d(store, 'c', 2, 4, 3, { padding: 1 });
    const gn = new GroupNorm(store, 'n', 2, 4, 1e-6);
    store.finish('blocks');
    // Conv weight transposed (checkpoint copy freed), bias, gamma, beta.
    assert.equal(store.tensorCount, 4);
    assert.equal(tf.memory().numTensors, start + 4);
    const x = tf.ones([1, 4, 4, 2]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    // Each block tidies its own intermediates: the unwrapped chain leaves exactly its 5 outputs.
    const c1 = conv.apply(x);
    const c2 = avgPool2x(c1);
    const c3 = upsampleNearest2x(c2);
    const c4 = gn.apply(c3);
    const c5 = silu(c4);
    assert.equal(tf.memory().numTensors, before + 5);
    tf.dispose([c1, c2, c3, c4, c5]);
    // An input gradient leaves exactly one cached flipped kernel in the store, and no other tensor;
    // without the cache, nothing stays behind and the gradient is identical.
    const chain = (xi: tf.Tensor): tf.Tensor => tf.sum(silu(gn.apply(conv.apply(xi as tf.Tensor4D))));
    const g1 = tf.grad(chain)(x);
    assert.equal(store.tensorCount, 5);
    assert.equal(tf.memory().numTensors, before + 2);
    store.cacheFlippedKernels = false;
    const conv2 = new Conv2d(store, 'c', 2, 4, 3, { padding: 1 });
    const countBefore = tf.memory().numTensors;
    const g2 = tf.grad((xi) => tf.sum(silu(gn.apply(conv2.apply(xi as tf.Tensor4D)))))(x);
    assert.equal(tf.memory().numTensors, countBefore + 1);
    assert.deepEqual(await g2.data(), await g1.data());
    tf.dispose([x, g1, g2]);
    store.dispose();
    assert.equal(tf.memory().numTensors, start);
    store.dispose();
    assert.equal(tf.memory().numTensors, start);
  });
}
