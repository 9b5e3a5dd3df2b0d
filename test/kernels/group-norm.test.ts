/**
 * The fused wasm GroupNorm (+ SiLU) kernels against a float64 closed form (forward) and float64
 * central differences of that closed form (input gradient), and the GroupNorm layer on wasm (fused)
 * against the same layer on cpu (composed from tfjs ops, the old implementation).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { relErr, useBackend } from '../helpers/backends.js';
import { Rng } from '../../src/util/random.js';
import { registerWasmKernels } from '../../src/runtime/kernels/index.js';
import { fusedGroupNorm } from '../../src/runtime/kernels/group-norm.js';
import { GroupNorm } from '../../src/networks/layers.js';
import { WeightStore } from '../../src/networks/weights.js';

interface Case {
  shape: [number, number, number, number];
  groups: number;
  eps: number;
  silu: boolean;
  x: number[];
  gamma: number[];
  beta: number[];
  r: number[];
}

function makeCase(rng: Rng, shape: Case['shape'], groups: number, eps: number, silu: boolean): Case {
  const [n, h, w, c] = shape;
  const offset = rng.normal() * 3;
  return {
    shape,
    groups,
    eps,
    silu,
    x: Array.from({ length: n * h * w * c }, () => offset + 2 * rng.normal()),
    gamma: Array.from({ length: c }, () => 1 + 0.5 * rng.normal()),
    beta: Array.from({ length: c }, () => 0.5 * rng.normal()),
    r: Array.from({ length: n * h * w * c }, () => rng.normal()),
  };
}

/** float64 GroupNorm (+ SiLU) of NHWC x, straight from the definition. */
function reference(c: Case, x: number[]): number[] {
  const [n, h, w, ch] = c.shape;
  const cg = ch / c.groups;
  const y = new Array<number>(x.length).fill(0);
  for (let b = 0; b < n; b++)
    for (let g = 0; g < c.groups; g++) {
      const idx: number[] = [];
      for (let p = 0; p < h * w; p++)
        for (let k = 0; k < cg; k++) idx.push((b * h * w + p) * ch + g * cg + k);
      const mean = idx.reduce((s, i) => s + (x[i] as number), 0) / idx.length;
      const variance = idx.reduce((s, i) => s + ((x[i] as number) - mean) ** 2, 0) / idx.length;
      for (const i of idx) {
        const chan = i % ch;
        const u =
          (((x[i] as number) - mean) / Math.sqrt(variance + c.eps)) * (c.gamma[chan] as number) +
          (c.beta[chan] as number);
        y[i] = c.silu ? u / (1 + Math.exp(-u)) : u;
      }
    }
  return y;
}

/** d sum(y * r) / dx by float64 central differences of the reference. */
function referenceGrad(c: Case): number[] {
  const step = 1e-5;
  const loss = (x: number[]): number => reference(c, x).reduce((s, v, i) => s + v * (c.r[i] as number), 0);
  return c.x.map((_, i) => {
    const plus = c.x.slice();
    const minus = c.x.slice();
    plus[i] = (plus[i] as number) + step;
    minus[i] = (minus[i] as number) - step;
    return (loss(plus) - loss(minus)) / (2 * step);
  });
}

function fusedOnWasm(c: Case): { y: number[]; dx: number[] } {
  return tf.tidy(() => {
    const x = tf.tensor4d(c.x, c.shape);
    const gamma = tf.tensor1d(c.gamma);
    const beta = tf.tensor1d(c.beta);
    const r = tf.tensor4d(c.r, c.shape);
    const run = (v: tf.Tensor4D): tf.Tensor4D => {
      const y = fusedGroupNorm(v, gamma, beta, c.groups, c.eps, c.silu);
      assert.ok(y, 'the fused kernel is registered on wasm');
      return y;
    };
    const y = Array.from(run(x).dataSync());
    const dx = Array.from(
      tf
        .grad((v: tf.Tensor) => tf.sum(tf.mul(run(v as tf.Tensor4D), r)))(x)
        .dataSync(),
    );
    return { y, dx };
  });
}

test('fused GroupNorm (+ SiLU) on wasm equals the float64 closed form, forward and input gradient', async () => {
  await useBackend('wasm');
  registerWasmKernels();
  const rng = new Rng(14);
  const cases = [
    makeCase(rng, [2, 3, 3, 8], 4, 1e-5, false),
    makeCase(rng, [2, 3, 3, 8], 4, 1e-6, true),
    makeCase(rng, [1, 2, 5, 6], 3, 1e-5, true),
    makeCase(rng, [3, 2, 2, 4], 1, 1e-6, false),
    makeCase(rng, [1, 4, 4, 4], 4, 1e-5, true), // one channel per group
  ];
  for (const c of cases) {
    const { y, dx } = fusedOnWasm(c);
    const label = `${JSON.stringify(c.shape)} groups ${c.groups} silu ${c.silu}`;
    assert.ok(relErr(y, reference(c, c.x)) < 2e-6, `forward ${label}: ${relErr(y, reference(c, c.x))}`);
    const e = relErr(dx, referenceGrad(c));
    assert.ok(e < 1e-5, `input gradient ${label}: ${e}`);
  }
});

async function layerOn(backend: 'wasm' | 'cpu', c: Case): Promise<{ y: number[]; dx: number[] }> {
  await useBackend(backend);
  if (backend === 'wasm') registerWasmKernels();
  const channels = c.shape[3];
  const store = new WeightStore(
    new Map([
      ['n.weight', { shape: [channels], data: Float32Array.from(c.gamma), dtype: 'float32' as const }],
      ['n.bias', { shape: [channels], data: Float32Array.from(c.beta), dtype: 'float32' as const }],
    ]),
  );
  const norm = new GroupNorm(store, 'n', c.groups, channels, c.eps);
  const out = tf.tidy(() => {
    const x = tf.tensor4d(c.x, c.shape);
    const r = tf.tensor4d(c.r, c.shape);
    const run = (v: tf.Tensor4D): tf.Tensor4D => (c.silu ? norm.applySilu(v) : norm.apply(v));
    return {
      y: Array.from(run(x).dataSync()),
      dx: Array.from(
        tf
          .grad((v: tf.Tensor) => tf.sum(tf.mul(run(v as tf.Tensor4D), r)))(x)
          .dataSync(),
      ),
    };
  });
  store.dispose();
  return out;
}

test('GroupNorm layer: fused on wasm equals the composed ops on cpu (network-size map)', async () => {
  const rng = new Rng(7);
  for (const silu of [false, true]) {
    const c = makeCase(rng, [2, 8, 8, 64], 32, 1e-6, silu);
    const wasm = await layerOn('wasm', c);
    const cpu = await layerOn('cpu', c);
    assert.ok(relErr(wasm.y, cpu.y) < 1e-5, `forward silu ${silu}: ${relErr(wasm.y, cpu.y)}`);
    assert.ok(relErr(wasm.dx, cpu.dx) < 1e-5, `gradient silu ${silu}: ${relErr(wasm.dx, cpu.dx)}`);
  }
});
