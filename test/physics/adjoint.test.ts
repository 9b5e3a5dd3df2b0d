/**
 * Dot-product test <A x, y> = <x, A^T y> for every operator and option, evaluated in float64 from
 * the tensors' data (inputs uniform in [0, 1], so the inner products cannot cancel to ~0 and the
 * relative error is meaningful). Tolerance: relative error < 1e-5. Also checks that tfjs gradients
 * through A reproduce A^T and those through A^T reproduce A (the solvers rely on this), on both
 * backends: blur and SR register their gradients with tf.customGrad, so this checks that wiring.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, relErr, useBackend } from '../helpers/backends.js';
import type { MeasurementOperator } from '../../src/physics/operator.js';
import { InpaintOperator } from '../../src/physics/inpaint.js';
import { SuperResolutionOperator } from '../../src/physics/sr.js';
import { GaussianBlurOperator } from '../../src/physics/blur.js';
import { Rng } from '../../src/util/random.js';

function uniform(shape: number[], rng: Rng): tf.Tensor4D {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.uniform();
  return tf.tensor4d(data, shape as [number, number, number, number]);
}

function dot64(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] as number) * (y[i] as number);
  return s;
}

interface Case {
  name: string;
  make: (x: tf.Tensor4D, rng: Rng) => MeasurementOperator;
  shape: [number, number, number];
}

function randomMask(h: number, w: number, rng: Rng): tf.Tensor4D {
  const m = new Float32Array(h * w);
  for (let i = 0; i < m.length; i++) m[i] = rng.uniform() < 0.6 ? 1 : 0;
  return tf.tensor4d(m, [1, h, w, 1]);
}

const CASES: Case[] = [
  ...[[12, 10, 3] as const, [9, 16, 1] as const].map((s) => ({
    name: `inpaint ${s.join('x')}`,
    shape: [s[0], s[1], s[2]] as [number, number, number],
    make: (x: tf.Tensor4D, rng: Rng) => {
      const mask = randomMask(s[0], s[1], rng);
      const op = InpaintOperator.measure(x, mask, { sigmaY: 0.1 }, rng);
      mask.dispose();
      return op;
    },
  })),
  ...[2, 3, 4].flatMap((f) =>
    [3, 1].map((c) => ({
      name: `sr x${f} C=${c}`,
      shape: [8 * f, 5 * f, c] as [number, number, number],
      make: (x: tf.Tensor4D, rng: Rng) =>
        SuperResolutionOperator.measure(x, { factor: f, sigmaY: 0.05 }, rng),
    })),
  ),
  ...(['reflect', 'zero'] as const).flatMap((padding) =>
    [
      { size: 61, sigma: 3, shape: [40, 34, 3] as [number, number, number] },
      { size: 7, sigma: 1.2, shape: [11, 13, 1] as [number, number, number] },
    ].map((b) => ({
      name: `blur ${b.size} ${padding} ${b.shape.join('x')}`,
      shape: b.shape,
      make: (x: tf.Tensor4D, rng: Rng) =>
        GaussianBlurOperator.measure(x, { size: b.size, sigma: b.sigma, padding, sigmaY: 0.02 }, rng),
    })),
  ),
];

for (const backend of TEST_BACKENDS) {
  test(`dot-product adjoint test, batch 3, all operators [${backend}]`, async (t) => {
    await useBackend(backend);
    const rng = new Rng(99);
    for (const c of CASES) {
      const truth = uniform([1, ...c.shape], rng);
      const op = c.make(truth, rng);
      const x = uniform([3, ...op.inputShape], rng);
      const y = uniform([3, ...op.outputShape], rng);
      const ax = op.forward(x);
      const aty = op.adjoint(y);
      assert.deepEqual(ax.shape, [3, ...op.outputShape]);
      assert.deepEqual(aty.shape, [3, ...op.inputShape]);
      const lhs = dot64(ax, y);
      const rhs = dot64(x, aty);
      const rel = Math.abs(lhs - rhs) / Math.abs(lhs);
      t.diagnostic(`${c.name}: <Ax,y>=${lhs.toFixed(4)} rel err ${rel.toExponential(2)}`);
      assert.ok(rel < 1e-5, `${c.name}: <Ax,y>=${lhs} <x,A^T y>=${rhs} rel err ${rel}`);
      tf.dispose([truth, x, y, ax, aty]);
      op.dispose();
    }
  });

  test(`tf.grad through forward equals the adjoint [${backend}]`, async () => {
    await useBackend(backend);
    const rng = new Rng(5);
    for (const c of CASES) {
      const truth = uniform([1, ...c.shape], rng);
      const op = c.make(truth, rng);
      const x = uniform([2, ...op.inputShape], rng);
      const w = uniform([2, ...op.outputShape], rng);
      // d/dx sum(w ⊙ A x) = A^T w
      const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(op.forward(v as tf.Tensor4D), w)))(x);
      const aw = op.adjoint(w);
      const err = relErr(g.dataSync(), aw.dataSync());
      assert.ok(err < 1e-6, `${c.name}: gradient vs adjoint rel err ${err}`);
      // Data-fidelity gradient d/dx ||A x - y||² = 2 A^T (A x - y) with y broadcast over the batch.
      const g2 = tf.grad((v: tf.Tensor) => tf.sum(tf.square(tf.sub(op.forward(v as tf.Tensor4D), op.y))))(x);
      const expected = tf.tidy(() => tf.mul(op.adjoint(tf.sub(op.forward(x), op.y)), 2));
      const err2 = relErr(g2.dataSync(), expected.dataSync());
      assert.ok(err2 < 1e-5, `${c.name}: fidelity gradient rel err ${err2}`);
      // And through the adjoint: d/dy sum(v ⊙ A^T y) = A v.
      const gAdj = tf.grad((u: tf.Tensor) => tf.sum(tf.mul(op.adjoint(u as tf.Tensor4D), x)))(w);
      const ax = op.forward(x);
      const err3 = relErr(gAdj.dataSync(), ax.dataSync());
      assert.ok(err3 < 1e-6, `${c.name}: gradient through the adjoint rel err ${err3}`);
      tf.dispose([truth, x, w, g, aw, g2, expected, gAdj, ax]);
      op.dispose();
    }
  });
}
