/**
 * The VIPaint chain as nodes on a tiny LDM (fixture weights): measure -> schedule -> posterior-fit
 * -> ancestral-sample -> dps-refine -> metric/save, with network-call accounting in run.json,
 * cacheable posteriors, and the bad-input errors of issue 5.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { loadPlan } from '../../src/graph/plan.js';
import { runPlan } from '../../src/runtime/execute.js';
import { StageCache } from '../../src/runtime/cache.js';
import { initBackend } from '../../src/runtime/backend.js';
import { REPO, tempDir } from '../engine/helpers.js';
import { writeTinyLdm } from '../models/tiny-models.js';
import { likelihoodScaleCommand } from '../../src/cli/likelihood-scale-command.js';
import { loadModelFolder } from '../../src/models/folder.js';
import { tinyVipaintPipeline } from '../models/tiny-vipaint.js';

await initBackend('wasm');
const dir = await tempDir();
const image = path.join(REPO, 'assets/images/64/chelsea.png');
// A prior without a likelihood scale is refused by posterior-fit; this one gets b from its "data".
const unscaled = await writeTinyLdm(dir, 'tiny-ldm-unscaled');
const ldm = await writeTinyLdm(dir);
await likelihoodScaleCommand(image, { count: 1, write: ldm });

const chain = (size: number, extra = '', scheduleParams = '{}') =>
  tinyVipaintPipeline({ ldm, images: image, size, extra, scheduleParams });

test('VIPaint-2 chain on a tiny LDM: shapes, call counts, metrics, outputs, cache and tensor hygiene', async () => {
  const file = path.join(dir, 'v.yaml');
  await writeFile(file, chain(16));
  const cacheDir = path.join(dir, 'cache');
  const before = tf.memory().numTensors;
  const events: string[] = [];
  const handle = runPlan(await loadPlan(file), {
    cache: new StageCache({ dir: cacheDir }),
    keep: ['refine.image'],
  });
  handle.events$.subscribe((e) => {
    if (e.type === 'progress' && e.node === 'fit' && e.values) events.push(Object.keys(e.values).join(','));
  });
  const { outputs, summary, files } = await handle.result;
  const out = outputs['refine.image']?.get('chelsea') as tf.Tensor4D;
  assert.deepEqual(out.shape, [2, 16, 16, 3]);
  out.dispose();
  assert.deepEqual(
    events[0],
    'loss,likelihood,kl,prior',
    'fit progress carries the loss and its three parts',
  );
  // K = 2: each fit iteration costs K + 1 = 3 differentiated calls; the hierarchy 1 forward call;
  // refinement one differentiated call per step.
  assert.deepEqual(summary.nodes.fit?.calls, { forward: 0, gradient: 9 });
  assert.deepEqual(summary.nodes.draw?.calls, { forward: 1, gradient: 0 });
  assert.deepEqual(summary.nodes.refine?.calls, { forward: 0, gradient: 3 });
  const m = summary.metrics.score?.chelsea as Record<string, number>;
  assert.ok(Number.isFinite(m.psnr_mean) && Number.isFinite(m.psnr_missing_mean));
  assert.ok(Number.isFinite((summary.metrics.fit?.chelsea as Record<string, number>).fit_loss));
  assert.ok(files.some((f) => f.path === 'chelsea/fit-loss.csv'));
  assert.ok(files.some((f) => f.path === 'chelsea/grid.png'));
  assert.equal(tf.memory().numTensors, before, 'no tensors left after the run');
  // A second run with more samples reuses the cached fit.
  const file2 = path.join(dir, 'v2.yaml');
  await writeFile(file2, chain(16).replace('samples: 2', 'samples: 3'));
  const again = await runPlan(await loadPlan(file2), { cache: new StageCache({ dir: cacheDir }) }).result;
  assert.equal(again.summary.nodes.fit?.cacheHits, 1);
  assert.equal(again.summary.nodes.draw?.cacheHits, 0);
});

test('VIPaint bad input: measurement size, keypoint order, K < 2', async () => {
  const run = async (text: string) => {
    const file = path.join(dir, `bad-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(file, text);
    return runPlan(await loadPlan(file), { cache: false }).result;
  };
  await assert.rejects(
    run(chain(32)),
    /the measurement is of 32x32x3 images but the prior 'tiny-ldm' makes 16x16x3 images/,
  );
  await assert.rejects(run(chain(16, '', '{ keypoints: [400, 550] }')), /node 'keys': .*decreas/);
  await assert.rejects(
    run(chain(16, '', '{ keypoints: [400] }')),
    /'keys\.params\.keypoints' must NOT have fewer than 2 items/,
  );
  await assert.rejects(run(chain(16, '', '{ keypoints: [1200, 400] }')), /node 'keys': /);
  await assert.rejects(
    run(chain(16).replace(`models: { ldm: ${ldm} }`, `models: { ldm: ${unscaled} }`)),
    /node 'fit': model 'tiny-ldm-unscaled' has no likelihoodScale in its model.yaml: compute it with 'flow likelihood-scale/,
  );
  await assert.rejects(
    run(
      chain(16).replace(
        'latent: draw.latent, posterior: fit.posterior }\n    params: { steps: 3 }',
        'latent: draw.latent }\n    params: { budget: 10, from: 400 }',
      ),
    ),
    /node 'refine': 'budget' needs the fitted posterior wired/,
  );
});

test("posterior-fit's Laplace scale: the model's b by default, the laplaceScale param overrides it", async () => {
  const b = (await loadModelFolder(ldm)).manifest.likelihoodScale?.b as number;
  const fitMetrics = async (params: string) => {
    const file = path.join(dir, `b-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(
      file,
      chain(16).replace(
        'params: { iterations: 3, batch: 2 }',
        `params: { iterations: 1, batch: 2${params} }`,
      ),
    );
    const { summary } = await runPlan(await loadPlan(file), { cache: false }).result;
    return summary.metrics.fit?.chelsea as Record<string, number>;
  };
  const byModel = await fitMetrics('');
  const explicit = await fitMetrics(`, laplaceScale: ${b}`);
  const halved = await fitMetrics(`, laplaceScale: ${b / 2}`);
  assert.equal(byModel.fit_likelihood, explicit.fit_likelihood, 'the default is the model b');
  // The first iteration's likelihood sum |r| / b is evaluated before any update: b / 2 doubles it.
  assert.ok(Math.abs(halved.fit_likelihood / byModel.fit_likelihood - 2) < 1e-5);
});
