/**
 * The perceptual (LPIPS) term in the VIPaint nodes and the LPIPS metric, on the embedded
 * Fashion-MNIST LDM (32x32 inpainting; LPIPS needs at least 17x17, so the tiny 16x16 test LDM cannot
 * serve) with the official LPIPS squeeze weights from ../shared/reference/lpips (skipped when
 * absent). Checked: the first fit iteration's likelihood (same seed, so the same posterior samples)
 * grows by exactly w x mean LPIPS, linearly in w; weight 0 reproduces the unwired run bit for
 * bit; the LPIPS metric equals the network applied to the refined samples; the errors for a
 * non-perceptual model and for a measurement too small for LPIPS.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadPlan } from '../../src/graph/plan.js';
import { runPlan } from '../../src/runtime/execute.js';
import { initBackend } from '../../src/runtime/backend.js';
import { importReferenceLpips, lpipsSkip as skip } from '../helpers/lpips.js';
import { loadModel } from '../../src/models/build.js';
import { REPO, tempDir } from '../engine/helpers.js';

const chain = (
  ldm: string,
  lpips: string,
  opts: { weight?: number; wire?: string; measure?: string } = {},
) => {
  const wire = opts.wire ?? 'lp.model';
  const weight = opts.weight === undefined ? '' : `, perceptualWeight: ${opts.weight}`;
  const perceptual = opts.weight === -1 ? '' : `, perceptual: ${wire}`;
  const w = opts.weight === -1 ? '' : weight;
  return `version: 1
name: perceptual-tiny
params: { seed: 5 }
nodes:
  img: { type: load, params: { path: ${path.join(REPO, 'assets/images/64/chelsea.png')}, size: 32, channels: 1 } }
  ldm: { type: model, params: { path: ${ldm} } }
  lp: { type: model, params: { path: ${lpips} } }
  measure: ${opts.measure ?? '{ type: measure.inpaint, inputs: { image: img.image }, params: { mask: rotated } }'}
  fit:
    type: posterior-fit
    inputs: { model: ldm.model, operator: measure.operator${perceptual} }
    params: { iterations: 2, batch: 2${w} }
  draw: { type: ancestral-sample, inputs: { model: ldm.model, posterior: fit.posterior }, params: { samples: 2 } }
  refine:
    type: dps-refine
    inputs: { model: ldm.model, operator: measure.operator, latent: draw.latent, posterior: fit.posterior${perceptual} }
    params: { steps: 2${w} }
  score: { type: metric, inputs: { image: refine.image, reference: img.image, perceptual: lp.model } }
`;
};

test(
  'LPIPS in posterior-fit, dps-refine and metric: w x LPIPS joins the likelihood; weight 0 = unwired',
  { skip },
  async () => {
    await initBackend('wasm');
    const dir = await tempDir();
    const ldm = path.join(REPO, 'models/fashion-ldm');
    const lpips = path.join(dir, 'lpips-squeeze');
    await importReferenceLpips(lpips);
    const run = async (text: string) => {
      const file = path.join(dir, `p-${Math.random().toString(36).slice(2)}.yaml`);
      await writeFile(file, text);
      const handle = runPlan(await loadPlan(file), { cache: false, keep: ['refine.image', 'img.image'] });
      let firstLikelihood: number | undefined;
      handle.events$.subscribe((e) => {
        if (e.type === 'progress' && e.node === 'fit' && firstLikelihood === undefined)
          firstLikelihood = e.values?.likelihood;
      });
      const r = await handle.result;
      const image = r.outputs['refine.image']?.get('chelsea') as tf.Tensor4D;
      const truth = r.outputs['img.image']?.get('chelsea') as tf.Tensor4D;
      return { ...r, image, truth, firstLikelihood: firstLikelihood as number };
    };
    const before = tf.memory().numTensors;
    const plain = await run(chain(ldm, lpips, { weight: -1 }));
    const zero = await run(chain(ldm, lpips, { weight: 0 }));
    const one = await run(chain(ldm, lpips, { weight: 1 }));
    const two = await run(chain(ldm, lpips, { weight: 2 }));

    // Weight 0: the same samples bit for bit as without the perceptual input.
    assert.deepEqual(Array.from(await zero.image.data()), Array.from(await plain.image.data()));
    // The excess likelihood at iteration 1 is w x mean LPIPS of the same posterior samples.
    const excess1 = one.firstLikelihood - plain.firstLikelihood;
    const excess2 = two.firstLikelihood - plain.firstLikelihood;
    assert.ok(excess1 > 1e-3, `LPIPS adds to the likelihood (${excess1})`);
    // Tolerance: float32 rounding of likelihoods of order 1e3 (ulp ~1e-4), a few ulps.
    const tol = 4e-7 * Math.abs(plain.firstLikelihood) + 1e-6;
    assert.ok(
      Math.abs(excess2 - 2 * excess1) < tol,
      `linear in the weight: ${excess1}, ${excess2} (tolerance ${tol})`,
    );
    assert.notDeepEqual(Array.from(await one.image.data()), Array.from(await plain.image.data()));
    // The LPIPS term costs no extra calls of the prior.
    assert.deepEqual(one.summary.nodes.fit?.calls, plain.summary.nodes.fit?.calls);
    assert.deepEqual(one.summary.nodes.refine?.calls, plain.summary.nodes.refine?.calls);

    // The metric is the network on the refined samples against the truth.
    const model = await loadModel(lpips);
    const ref = tf.tile(one.truth, [2, 1, 1, 1]) as tf.Tensor4D;
    const direct = model.perceptual?.distance(one.image, ref) as tf.Tensor1D;
    const m = one.summary.metrics.score?.chelsea as Record<string, number>;
    const want = Array.from(await direct.data());
    assert.ok(
      Math.abs((m.lpips_mean as number) - (want[0]! + want[1]!) / 2) < 1e-6,
      `lpips_mean ${m.lpips_mean}`,
    );
    tf.dispose([ref, direct]);
    model.dispose();
    for (const r of [plain, zero, one, two]) tf.dispose([r.image, r.truth]);
    assert.equal(tf.memory().numTensors, before, 'no tensors left');

    // A diffusion model is not a feature network; 4x SR of 32x32 leaves 8x8, too small for LPIPS.
    await assert.rejects(
      run(chain(ldm, lpips, { wire: 'ldm.model' })),
      /node 'fit': input 'perceptual' needs a perceptual model \(LPIPS\), got 'fashion-ldm' \(ldm\)/,
    );
    await assert.rejects(
      run(
        chain(ldm, lpips, {
          measure: '{ type: measure.sr, inputs: { image: img.image }, params: { factor: 4 } }',
        }),
      ),
      /node 'fit': the measurement is 8x8, too small for LPIPS \(at least 17x17\)/,
    );
  },
);

test(
  'LPIPS in baseline.dps: weight 0 = unwired; the latent default scale becomes 2 with a perceptual model',
  { skip },
  async () => {
    await initBackend('wasm');
    const dir = await tempDir();
    const lpips = path.join(dir, 'lpips-squeeze');
    await importReferenceLpips(lpips);
    const dps = async (params: string, wired: boolean): Promise<number[]> => {
      const file = path.join(dir, `d-${Math.random().toString(36).slice(2)}.yaml`);
      await writeFile(
        file,
        `version: 1
name: dps-perceptual
params: { seed: 2 }
nodes:
  img: { type: load, params: { path: ${path.join(REPO, 'assets/images/64/chelsea.png')}, size: 32, channels: 1 } }
  ldm: { type: model, params: { path: ${path.join(REPO, 'models/fashion-ldm')} } }
  lp: { type: model, params: { path: ${lpips} } }
  measure: { type: measure.inpaint, inputs: { image: img.image }, params: { mask: rotated } }
  dps:
    type: baseline.dps
    inputs: { model: ldm.model, operator: measure.operator${wired ? ', perceptual: lp.model' : ''} }
    params: { samples: 2, steps: 3${params} }
`,
      );
      const r = await runPlan(await loadPlan(file), { cache: false, keep: ['dps.image'] }).result;
      const image = r.outputs['dps.image']?.get('chelsea') as tf.Tensor4D;
      const values = Array.from(await image.data());
      image.dispose();
      return values;
    };
    const plain = await dps('', false);
    assert.deepEqual(
      await dps(', perceptualWeight: 0, scale: 0.5', true),
      plain,
      'weight 0 at the same scale: unchanged',
    );
    assert.deepEqual(
      await dps(', perceptualWeight: 0', true),
      await dps(', scale: 2', false),
      'default scale 2 when wired',
    );
    assert.notDeepEqual(
      await dps(', perceptualWeight: 1, scale: 0.5', true),
      plain,
      'the LPIPS term changes the samples',
    );
  },
);
