/**
 * The wasm replacement kernels Conv2DBackpropInput / Conv2DBackpropFilter against the cpu backend's
 * stock kernels and against a float64 loop reference, through tf.grads of sum(conv(x, w) * r), for
 * fixed network-like configurations plus many random ones (strides 1/2, 'valid'/'same'/numeric/
 * explicit padding, tf.pad + 'valid', odd/even sizes and kernels, batch > 1, 1x1 kernels).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { relErr, useBackend } from '../helpers/backends.js';
import { Rng } from '../../src/util/random.js';
import {
  conv2dFilterGradient,
  registerWasmKernels,
  stockWasmKernel,
  WASM_KERNEL_NAMES,
  wasmKernelsRegistered,
} from '../../src/runtime/kernels/index.js';
import { explicitOut, refConvGrads, samePadding, type RefConv } from './conv-reference.js';

type Explicit = [[number, number], [number, number], [number, number], [number, number]];
type PadSpec =
  | { kind: 'valid' }
  | { kind: 'same' }
  | { kind: 'number'; p: number }
  | { kind: 'explicit'; t: number; b: number; l: number; r: number }
  | { kind: 'tfpad'; t: number; b: number; l: number; r: number };

interface Case {
  n: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  pad: PadSpec;
}

const TOL = 1e-5;

function describe(c: Case): string {
  const p = c.pad;
  const pad =
    p.kind === 'number'
      ? `pad=${p.p}`
      : p.kind === 'explicit' || p.kind === 'tfpad'
        ? `${p.kind}(${p.t},${p.b},${p.l},${p.r})`
        : p.kind;
  return `x ${c.n}x${c.h}x${c.w}x${c.ci} w ${c.kh}x${c.kw}x${c.ci}x${c.co} s ${c.sh},${c.sw} ${pad}`;
}

/** Geometry from the definitions (not from tfjs), for the float64 reference. */
function geometry(c: Case): RefConv {
  const p = c.pad;
  let top: number, left: number, ho: number, wo: number;
  if (p.kind === 'same') {
    const hs = samePadding(c.h, c.kh, c.sh);
    const ws = samePadding(c.w, c.kw, c.sw);
    [top, left, ho, wo] = [hs.before, ws.before, hs.out, ws.out];
  } else {
    const [t, b, l, r] =
      p.kind === 'valid' ? [0, 0, 0, 0] : p.kind === 'number' ? [p.p, p.p, p.p, p.p] : [p.t, p.b, p.l, p.r];
    [top, left] = [t, l];
    ho = explicitOut(c.h, c.kh, c.sh, t, b);
    wo = explicitOut(c.w, c.kw, c.sw, l, r);
  }
  return { ...c, padTop: top, padLeft: left, ho, wo };
}

function conv(x: tf.Tensor4D, w: tf.Tensor4D, c: Case): tf.Tensor4D {
  const p = c.pad;
  const s: [number, number] = [c.sh, c.sw];
  switch (p.kind) {
    case 'valid':
    case 'same':
      return tf.conv2d(x, w, s, p.kind);
    case 'number':
      return tf.conv2d(x, w, s, p.p);
    case 'explicit': {
      const e: Explicit = [
        [0, 0],
        [p.t, p.b],
        [p.l, p.r],
        [0, 0],
      ];
      return tf.conv2d(x, w, s, e);
    }
    case 'tfpad':
      return tf.conv2d(
        tf.pad(x, [
          [0, 0],
          [p.t, p.b],
          [p.l, p.r],
          [0, 0],
        ]),
        w,
        s,
        'valid',
      );
  }
}

interface Data {
  x: Float32Array;
  w: Float32Array;
  r: Float32Array;
}

async function gradsOn(
  backend: 'wasm' | 'cpu',
  c: Case,
  g: RefConv,
  d: Data,
): Promise<{ dx: Float32Array; dw: Float32Array }> {
  await useBackend(backend);
  return tf.tidy(() => {
    const x = tf.tensor4d(d.x, [c.n, c.h, c.w, c.ci]);
    const w = tf.tensor4d(d.w, [c.kh, c.kw, c.ci, c.co]);
    const r = tf.tensor4d(d.r, [c.n, g.ho, g.wo, c.co]);
    const f = (a: tf.Tensor, b: tf.Tensor): tf.Scalar =>
      tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D, c), r));
    const [dx, dw] = tf.grads(f)([x, w]) as [tf.Tensor, tf.Tensor];
    return { dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

/** Worst relative error seen per comparison, reported as a test diagnostic. */
const worst: Record<string, number> = {};

async function check(c: Case, rng: Rng): Promise<void> {
  const g = geometry(c);
  const d: Data = {
    x: rng.normalArray(c.n * c.h * c.w * c.ci),
    w: rng.normalArray(c.kh * c.kw * c.ci * c.co),
    r: rng.normalArray(c.n * g.ho * g.wo * c.co),
  };
  const ref = refConvGrads(g, d.x, d.w, d.r);
  const cpu = await gradsOn('cpu', c, g, d);
  const wasm = await gradsOn('wasm', c, g, d);
  const name = describe(c);
  const errs = {
    dxWasmCpu: relErr(wasm.dx, cpu.dx),
    dwWasmCpu: relErr(wasm.dw, cpu.dw),
    dxWasmRef: relErr(wasm.dx, ref.dx),
    dwWasmRef: relErr(wasm.dw, ref.dw),
    dxCpuRef: relErr(cpu.dx, ref.dx),
    dwCpuRef: relErr(cpu.dw, ref.dw),
  };
  for (const [k, v] of Object.entries(errs)) {
    assert.ok(v < TOL, `${name}: ${k} = ${v.toExponential(2)}`);
    worst[k] = Math.max(worst[k] ?? 0, v);
  }
}

const FIXED: Case[] = [
  // Network-like: 3x3 stride 1 'same'; stride-2 3x3 with explicit padding 1 via tf.pad + 'valid'.
  { n: 1, h: 12, w: 12, ci: 8, co: 16, kh: 3, kw: 3, sh: 1, sw: 1, pad: { kind: 'same' } },
  {
    n: 2,
    h: 12,
    w: 12,
    ci: 8,
    co: 8,
    kh: 3,
    kw: 3,
    sh: 2,
    sw: 2,
    pad: { kind: 'tfpad', t: 1, b: 1, l: 1, r: 1 },
  },
  {
    n: 2,
    h: 11,
    w: 13,
    ci: 4,
    co: 6,
    kh: 3,
    kw: 3,
    sh: 2,
    sw: 2,
    pad: { kind: 'tfpad', t: 1, b: 1, l: 1, r: 1 },
  },
  { n: 1, h: 12, w: 12, ci: 5, co: 7, kh: 3, kw: 3, sh: 2, sw: 2, pad: { kind: 'same' } },
  { n: 3, h: 9, w: 9, ci: 3, co: 5, kh: 3, kw: 3, sh: 2, sw: 2, pad: { kind: 'same' } },
  { n: 2, h: 7, w: 7, ci: 6, co: 4, kh: 3, kw: 3, sh: 2, sw: 2, pad: { kind: 'number', p: 1 } },
  { n: 1, h: 10, w: 10, ci: 6, co: 4, kh: 3, kw: 3, sh: 2, sw: 2, pad: { kind: 'valid' } },
  // Stride-2 downsampling with asymmetric (0, 1) padding, as some VAEs do it.
  {
    n: 1,
    h: 8,
    w: 8,
    ci: 4,
    co: 4,
    kh: 3,
    kw: 3,
    sh: 2,
    sw: 2,
    pad: { kind: 'tfpad', t: 0, b: 1, l: 0, r: 1 },
  },
  // 1x1 kernels (skip projections), stride 1 and 2, batch > 1.
  { n: 2, h: 6, w: 5, ci: 8, co: 3, kh: 1, kw: 1, sh: 1, sw: 1, pad: { kind: 'valid' } },
  { n: 2, h: 7, w: 6, ci: 4, co: 5, kh: 1, kw: 1, sh: 2, sw: 2, pad: { kind: 'same' } },
  // Even kernels and a kernel the size of the input.
  { n: 1, h: 8, w: 9, ci: 3, co: 4, kh: 2, kw: 2, sh: 2, sw: 2, pad: { kind: 'valid' } },
  { n: 2, h: 7, w: 8, ci: 3, co: 2, kh: 4, kw: 4, sh: 1, sw: 1, pad: { kind: 'same' } },
  { n: 1, h: 5, w: 5, ci: 2, co: 3, kh: 5, kw: 5, sh: 1, sw: 1, pad: { kind: 'valid' } },
  // Padding wider than the kernel needs.
  { n: 1, h: 5, w: 6, ci: 2, co: 3, kh: 3, kw: 3, sh: 1, sw: 1, pad: { kind: 'number', p: 3 } },
  {
    n: 1,
    h: 6,
    w: 5,
    ci: 2,
    co: 2,
    kh: 1,
    kw: 1,
    sh: 2,
    sw: 1,
    pad: { kind: 'explicit', t: 2, b: 0, l: 1, r: 2 },
  },
];

function randomPad(rng: Rng): PadSpec {
  const k = rng.int(0, 5);
  if (k === 0) return { kind: 'valid' };
  if (k === 1) return { kind: 'same' };
  if (k === 2) return { kind: 'number', p: rng.int(0, 3) };
  const kind = k === 3 ? 'explicit' : 'tfpad';
  return { kind, t: rng.int(0, 3), b: rng.int(0, 3), l: rng.int(0, 3), r: rng.int(0, 3) };
}

function randomCase(rng: Rng): Case {
  const pad = randomPad(rng);
  // tfjs sizes numeric-pad outputs with the row stride and kernel height in both directions (a
  // quirk that breaks the forward op too), so numeric padding only gets square kernels/strides.
  const square = pad.kind === 'number' || rng.uniform() < 0.7;
  const kh = rng.int(1, 5);
  const kw = square ? kh : rng.int(1, 5);
  const sh = rng.int(1, 4);
  const sw = square ? sh : rng.int(1, 4);
  return {
    n: rng.int(1, 4),
    h: rng.int(Math.max(kh, 2), 11),
    w: rng.int(Math.max(kw, 2), 11),
    ci: rng.int(1, 7),
    co: rng.int(1, 7),
    kh,
    kw,
    sh,
    sw,
    pad,
  };
}

test('replacement kernels are installed on wasm, idempotently, and the stock fallback runs', async () => {
  await useBackend('wasm');
  registerWasmKernels();
  registerWasmKernels(); // idempotent
  assert.ok(wasmKernelsRegistered());
  for (const name of WASM_KERNEL_NAMES) assert.ok(tf.getKernel(name, 'wasm') !== undefined, name);
  assert.equal(
    stockWasmKernel('Conv2DBackpropFilter'),
    undefined,
    'wasm had no Conv2DBackpropFilter to replace',
  );
  // The replaced stock kernel must still be callable (its wasm setup happens lazily): it is the
  // fallback for NCHW and what the benchmark compares against. Same result as ours here.
  const stock = stockWasmKernel('Conv2DBackpropInput');
  assert.ok(stock !== undefined);
  const rng = new Rng(3);
  const dy = tf.tensor4d(rng.normalArray(2 * 4 * 4 * 3), [2, 4, 4, 3]);
  const w = tf.tensor4d(rng.normalArray(3 * 3 * 2 * 3), [3, 3, 2, 3]);
  const attrs = { strides: 2, pad: 'same', dataFormat: 'NHWC', inputShape: [2, 8, 7, 2] };
  const info = stock({ inputs: { dy, filter: w }, attrs, backend: tf.backend() }) as tf.TensorInfo;
  const stockOut = tf.engine().makeTensorFromDataId(info.dataId, info.shape, info.dtype);
  const ours = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, attrs) as tf.Tensor;
  assert.deepEqual(stockOut.shape, [2, 8, 7, 2]);
  assert.ok(relErr(ours.dataSync(), stockOut.dataSync()) < TOL);
  tf.dispose([dy, w, stockOut, ours]);
});

test('conv2d gradients on wasm equal cpu and float64 (fixed network-like cases)', async () => {
  await useBackend('wasm');
  registerWasmKernels();
  const rng = new Rng(20261124);
  for (const c of FIXED) await check(c, rng);
});

test('conv2d gradients on wasm equal cpu and float64 (60 random cases)', async (t) => {
  await useBackend('wasm');
  registerWasmKernels();
  const rng = new Rng(777);
  for (let i = 0; i < 60; i++) {
    const c = randomCase(rng);
    await check(c, rng);
  }
  t.diagnostic(
    `worst relative errors over all cases: ${Object.entries(worst)
      .map(([k, v]) => `${k} ${v.toExponential(2)}`)
      .join(', ')}`,
  );
});

test('conv2dTranspose (Conv2DBackpropInput used forward) on wasm equals cpu', async () => {
  const rng = new Rng(5);
  const dy = rng.normalArray(2 * 5 * 6 * 4);
  const w = rng.normalArray(3 * 3 * 3 * 4);
  const run = async (b: 'wasm' | 'cpu'): Promise<Float32Array> => {
    await useBackend(b);
    registerWasmKernels();
    return tf.tidy(
      () =>
        tf
          .conv2dTranspose(
            tf.tensor4d(dy, [2, 5, 6, 4]),
            tf.tensor4d(w, [3, 3, 3, 4]),
            [2, 10, 11, 3],
            2,
            'same',
          )
          .dataSync() as Float32Array,
    );
  };
  const cpu = await run('cpu');
  const wasm = await run('wasm');
  assert.ok(relErr(wasm, cpu) < TOL, `relErr ${relErr(wasm, cpu)}`);
});

test('conv2dFilterGradient in batch chunks and row bands equals the one-piece result', async () => {
  const rng = new Rng(8);
  const x = rng.normalArray(3 * 11 * 9 * 4);
  const dy = rng.normalArray(3 * 6 * 5 * 5);
  const pad: Explicit = [
    [0, 0],
    [1, 1],
    [1, 1],
    [0, 0],
  ];
  for (const backend of ['wasm', 'cpu'] as const) {
    await useBackend(backend);
    registerWasmKernels();
    tf.tidy(() => {
      const xt = tf.tensor4d(x, [3, 11, 9, 4]);
      const dyt = tf.tensor4d(dy, [3, 6, 5, 5]);
      const whole = conv2dFilterGradient(xt, dyt, [3, 3, 4, 5], 2, pad).dataSync();
      // 5*3*3*4 = 180 floats per output row, 1080 per item: limits forcing 2-item chunks, and
      // bands of 2 and of 1 rows.
      for (const limit of [2200, 400, 180]) {
        const parts = conv2dFilterGradient(xt, dyt, [3, 3, 4, 5], 2, pad, undefined, limit).dataSync();
        assert.ok(relErr(parts, whole) < TOL, `${backend} limit ${limit}: ${relErr(parts, whole)}`);
      }
    });
  }
});
