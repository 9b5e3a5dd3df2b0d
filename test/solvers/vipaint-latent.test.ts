/**
 * VIPaint through a decoder and on an EDM prior: a latent prior whose "autoencoder" is a fixed
 * linear map (2x2 latent -> 4x4 image, each latent value spread over a 2x2 block with weights), so
 * the objective's gradient must flow through decode; K = 4 costs K + 1 calls per iteration; the
 * perceptual hook receives masked images; refinement through the decoder lowers the residual and
 * returns clipped images; the EDM path (ancestral steps, rho grids) fits, samples and refines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKENDS, useBackend, relErr } from '../helpers/backends.js';
import { InpaintOperator } from '../../src/physics/inpaint.js';
import { edm, vpDiscrete, type NoiseSchedule } from '../../src/schedules/index.js';
import { l2Residual, laplaceNll } from '../../src/solvers/likelihood.js';
import type { DiffusionPrior } from '../../src/solvers/prior.js';
import { pixelPrior } from '../../src/solvers/prior.js';
import {
  disposeParams,
  fitVipaintPosterior,
  refineTimes,
  refineWithLikelihood,
  resolveVipaintConfig,
  sampleVipaintPosterior,
  vipaintObjective,
  drawHierarchyNoise,
  drawPrior,
  priorGrid,
  initVipaintParams,
} from '../../src/solvers/vipaint/index.js';
import { Rng } from '../../src/util/random.js';
import { gaussianDenoiser, type GaussianData } from '../sampling/gaussian-prior.js';

const LATENT: GaussianData = { mean: [0.2, -0.1, 0.4, 0], std: 0.8, shape: [2, 2, 1] };
const MASK = [1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1];

/** The 4 x 16 decoding matrix: latent (i, j) feeds pixels of block (i, j) with weights 0.9, 0.7, 0.5, 0.3. */
function decoderMatrix(): number[][] {
  const w = [0.9, 0.7, 0.5, 0.3];
  return [0, 1, 2, 3].map((l) => {
    const row = new Array<number>(16).fill(0);
    const bi = Math.floor(l / 2);
    const bj = l % 2;
    [0, 1, 2, 3].forEach((q) => {
      row[(2 * bi + Math.floor(q / 2)) * 4 + 2 * bj + (q % 2)] = w[q] as number;
    });
    return row;
  });
}

function linearLatentPrior(schedule: NoiseSchedule): DiffusionPrior {
  const denoiser = {
    ...gaussianDenoiser(LATENT, schedule, schedule.kind === 'edm' ? 'x0' : 'eps'),
    space: 'latent' as const,
  };
  const mat = decoderMatrix();
  return {
    denoiser,
    space: 'latent',
    imageShape: [4, 4, 1],
    latentShape: [2, 2, 1],
    decode: (z) =>
      tf.tidy(
        () => tf.reshape(tf.matMul(tf.reshape(z, [-1, 4]), tf.tensor2d(mat)), [-1, 4, 4, 1]) as tf.Tensor4D,
      ),
    encode: (x) =>
      tf.tidy(
        () =>
          tf.reshape(
            tf.matMul(tf.reshape(x, [-1, 16]), tf.transpose(tf.tensor2d(mat))),
            [-1, 2, 2, 1],
          ) as tf.Tensor4D,
      ),
  };
}

function makeOp(): InpaintOperator {
  const xTrue = [0.5, 0.3, -0.2, 0.1, 0.4, 0.2, 0.0, 0.3, -0.6, -0.4, 0.2, 0.1, -0.3, -0.2, 0.1, 0.05];
  const mask = tf.tensor4d(MASK, [1, 4, 4, 1]);
  const y = tf.tensor4d(
    xTrue.map((v, i) => v * (MASK[i] as number)),
    [1, 4, 4, 1],
  );
  const op = InpaintOperator.fromObservation(mask, y, {});
  tf.dispose([mask, y]);
  return op;
}

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] latent prior: the likelihood gradient flows through decode (float64 chain rule), K = 4 costs 5 calls per iteration, perceptual hook sees masked images`, async () => {
    await useBackend(backend);
    const schedule = vpDiscrete();
    const prior = linearLatentPrior(schedule);
    const op = makeOp();
    const before = tf.memory().numTensors;
    const rng = new Rng(4);
    const config = resolveVipaintConfig(schedule, { keypoints: [550, 500, 450, 400] });
    const y0 = tf.tidy(() => prior.encode(op.y));
    // The likelihood's gradient reaches mu through the hierarchy, x_hat and the decoder.
    const params = initVipaintParams(schedule, config, y0, rng);
    const draws = {
      hierarchy: drawHierarchyNoise(rng, config, [2, 2, 2, 1]),
      prior: drawPrior(priorGrid(schedule, 550), [2, 2, 2, 1], rng),
    };
    const muGrad = tf.tidy(() => {
      const g = tf.grad((mu: tf.Tensor) => {
        const o = vipaintObjective(
          prior,
          prior.denoiser,
          config,
          { ...params, mu: mu as tf.Tensor4D },
          draws,
          {
            likelihood: (x) => laplaceNll(op, x, 0.1),
            beta: 0,
          },
        );
        return tf.sum(o.likelihood);
      })(params.mu);
      return Array.from(g.dataSync());
    });
    // The chain rule through decode, against float64: d/dv sum_p |y_p - (M^T v)_p| / b = -M sign(r) / b.
    const xhat = tf.tidy(() =>
      tf.variable(tf.tensor4d([0.113, -0.317, 0.529, 0.231, 0.047, 0.419, -0.283, 0.337], [2, 2, 2, 1])),
    );
    const g2 = tf.tidy(() =>
      Array.from(
        tf
          .grad((v: tf.Tensor) => tf.sum(laplaceNll(op, prior.decode(v as tf.Tensor4D), 0.1)))(xhat)
          .dataSync(),
      ),
    );
    const mat = decoderMatrix();
    const xArr = Array.from(xhat.dataSync());
    const yArr = Array.from(op.y.dataSync());
    const imageGrad: number[] = [];
    for (let b = 0; b < 2; b++) {
      for (let l = 0; l < 4; l++) {
        let s = 0;
        for (let p = 0; p < 16; p++) {
          let img = 0;
          for (let l2 = 0; l2 < 4; l2++) img += (xArr[b * 4 + l2] as number) * (mat[l2]?.[p] as number);
          if (MASK[p]) s += ((mat[l]?.[p] as number) * -Math.sign((yArr[p] as number) - img)) / 0.1;
        }
        imageGrad.push(s);
      }
    }
    assert.ok(relErr(g2, imageGrad) < 1e-5, `decode chain rule ${g2} vs ${imageGrad}`);
    assert.ok(
      muGrad.some((v) => Math.abs(v) > 0),
      'the likelihood reaches mu through the hierarchy and the decoder',
    );
    xhat.dispose();
    disposeParams(params);
    draws.hierarchy.top.dispose();
    draws.hierarchy.steps.forEach((t) => t.dispose());
    draws.prior.eps.dispose();

    // K = 4: 3 transitions + x_hat + prior term = 5 gradient calls per iteration.
    let seen: { a: number[]; b: number[] } | undefined;
    const fit = await fitVipaintPosterior(prior, op, {
      y0,
      rng,
      config: { keypoints: [550, 500, 450, 400] },
      iterations: 4,
      batch: 2,
      laplaceScale: 0.1,
      perceptual: {
        loss: (a, b) =>
          tf.tidy(() => {
            seen = { a: Array.from(a.dataSync()), b: Array.from(b.dataSync()) };
            return tf.sum(tf.reshape(tf.abs(tf.sub(a, b)), [a.shape[0], -1]), 1) as tf.Tensor1D;
          }),
        weight: 2,
      },
    });
    assert.deepEqual(fit.calls, { forward: 0, gradient: 20 });
    assert.ok(seen, 'the perceptual loss was called');
    seen.a.forEach((v, i) => {
      if (!MASK[i % 16]) assert.equal(Math.abs(v), 0, 'masked reconstruction');
    });
    seen.b.forEach((v, i) => {
      if (!MASK[i % 16]) assert.equal(Math.abs(v), 0, 'masked observation');
    });
    disposeParams(fit.params);

    // A latent prior refuses an image-sized y_0.
    const imageY0 = tf.zeros([1, 4, 4, 1]) as tf.Tensor4D;
    await assert.rejects(
      fitVipaintPosterior(prior, op, { y0: imageY0, rng }),
      /a latent prior takes the encoding of the degraded image/,
    );
    imageY0.dispose();
    y0.dispose();
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
    op.dispose();
  });

  test(`[${backend}] refinement through the decoder (VP, DDIM) and on EDM (ancestral): lower residual with the likelihood step, clipped images, calls counted`, async () => {
    await useBackend(backend);
    const op = makeOp();
    const before = tf.memory().numTensors;
    for (const schedule of [vpDiscrete(), edm()]) {
      const prior =
        schedule.kind === 'edm'
          ? pixelPrior(
              gaussianDenoiser(
                { ...LATENT, mean: new Array<number>(16).fill(0.1), shape: [4, 4, 1] },
                schedule,
              ),
            )
          : linearLatentPrior(schedule);
      const rng = new Rng(9);
      const y0 = tf.tidy(() => prior.encode(op.y));
      const fit = await fitVipaintPosterior(prior, op, {
        y0,
        rng,
        iterations: 30,
        batch: 2,
        laplaceScale: 0.1,
      });
      assert.ok(fit.curve.total.every(Number.isFinite));
      const ts = fit.config.keypoints[fit.config.keypoints.length - 1] as number;
      const z = await sampleVipaintPosterior(prior, fit, 16, rng);
      assert.deepEqual(z.shape, [16, ...prior.latentShape]);
      const run = async (zeta: number): Promise<number> => {
        let calls = 0;
        const imgs = await refineWithLikelihood(prior, op, z, {
          from: ts,
          rng: new Rng(2),
          steps: 10,
          zeta,
          onCalls: (kind) => kind === 'gradient' && calls++,
        });
        assert.equal(calls, 10);
        assert.deepEqual(imgs.shape, [16, 4, 4, 1]);
        const [lo, hi, r] = tf.tidy(() => [
          tf.min(imgs).dataSync()[0],
          tf.max(imgs).dataSync()[0],
          tf.mean(l2Residual(op, imgs)).dataSync()[0],
        ]) as [number, number, number];
        assert.ok(lo >= -1 && hi <= 1, 'clipped to [-1, 1]');
        imgs.dispose();
        return r;
      };
      const plain = await run(0);
      const guided = await run(schedule.kind === 'edm' ? 1 : 0.15);
      assert.ok(
        guided < 0.5 * plain,
        `${schedule.kind}: residual ${plain.toFixed(3)} -> ${guided.toFixed(3)}`,
      );
      z.dispose();
      y0.dispose();
      disposeParams(fit.params);
    }
    // The perceptual hook joins the guidance loss once per step.
    {
      const prior = linearLatentPrior(vpDiscrete());
      const z = tf.zeros([2, 2, 2, 1]) as tf.Tensor4D;
      let hookCalls = 0;
      const imgs = await refineWithLikelihood(prior, op, z, {
        from: 400,
        rng: new Rng(1),
        steps: 3,
        perceptual: {
          loss: (a) => {
            hookCalls += 1;
            return tf.zeros([a.shape[0]]) as tf.Tensor1D;
          },
        },
      });
      assert.equal(hookCalls, 3);
      tf.dispose([z, imgs]);
    }
    // Refinement times: every step from T_s on a discrete schedule, rho spacing on EDM.
    assert.deepEqual(refineTimes(vpDiscrete(), 400, 401).slice(0, 3), [400, 399, 398]);
    const et = refineTimes(edm(), 2, 5);
    assert.equal(et[0], 2);
    assert.ok(et.every((v, i) => i === 0 || v < (et[i - 1] as number)));
    assert.ok(Math.abs((et[4] as number) - 0.002) < 1e-9);
    const controller = new AbortController();
    controller.abort();
    const zz = tf.zeros([1, 4, 4, 1]) as tf.Tensor4D;
    const p = pixelPrior(
      gaussianDenoiser({ ...LATENT, mean: new Array<number>(16).fill(0), shape: [4, 4, 1] }, vpDiscrete()),
    );
    await assert.rejects(
      refineWithLikelihood(p, op, zz, { from: 400, rng: new Rng(1), signal: controller.signal }),
      /abort/i,
    );
    zz.dispose();
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
    op.dispose();
  });
}
