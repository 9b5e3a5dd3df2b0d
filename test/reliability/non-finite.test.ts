/**
 * A NaN is an error, never an image: a solver driven to divergence (a huge guidance step on a tiny
 * LDM, which used to save all-black PNGs) fails the run with the node, the item and the step
 * named, and nothing is saved or cached.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readdir, stat, writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { loadPlan } from '../../src/graph/plan.js';
import { runPlan } from '../../src/runtime/execute.js';
import { StageCache } from '../../src/runtime/cache.js';
import { initBackend } from '../../src/runtime/backend.js';
import { FlowError } from '../../src/graph/errors.js';
import { BUILTIN_NODES } from '../../src/nodes/builtins.js';
import { REPO, pipeline as testPipeline, tempDir, writeFiles } from '../engine/helpers.js';
import { withLikelihoodScale, writeTinyLdm } from '../models/tiny-models.js';

await initBackend('wasm');
const dir = await tempDir();
const ldm = await withLikelihoodScale(await writeTinyLdm(dir));
const image = path.join(REPO, 'assets/images/64/coffee.png');

const pipeline = (solver: string): string => `version: 1
name: diverge
params: { seed: 2 }
nodes:
  img: { type: load, params: { path: ${image}, size: 16 } }
  prior: { type: model, params: { path: ${ldm} } }
  measure: { type: measure.inpaint, inputs: { image: img.image } }
  noise: { type: sample, inputs: { model: prior.model }, params: { samples: 2, steps: 2 } }
${solver}
  save: { type: save, inputs: { samples: solver.image, truth: img.image } }
`;

// An infinite guidance step makes DPS diverge for real (a finite 1e38 no longer does: the fused
// GroupNorm's float64 statistics keep such latents finite).
const cases: Record<string, string> = {
  'baseline.dps': `  solver:
    type: baseline.dps
    inputs: { model: prior.model, operator: measure.operator }
    params: { samples: 2, steps: 3, scale: .inf }`,
};

for (const [type, solver] of Object.entries(cases)) {
  test(`${type} driven to NaN fails the run naming node, item and step; nothing saved or cached`, async () => {
    const file = path.join(dir, `${type}.yaml`);
    await writeFile(file, pipeline(solver));
    const out = path.join(dir, `out-${type}`);
    const cacheDir = path.join(dir, `cache-${type}`);
    const before = tf.memory().numTensors;
    const handle = runPlan(await loadPlan(file), { outDir: out, cache: new StageCache({ dir: cacheDir }) });
    await assert.rejects(handle.result, (e: unknown) => {
      assert.ok(e instanceof FlowError, String(e));
      assert.match(
        e.message,
        new RegExp(
          `^node 'solver' \\(${type.replace('.', '\\.')}\\) on item 'coffee': output 'image' has \\d+ non-finite values \\(NaN or infinity\\) after step 3/3; nothing of it is saved$`,
        ),
      );
      return true;
    });
    await assert.rejects(stat(out), /ENOENT/);
    const cached = await new StageCache({ dir: cacheDir }).list();
    assert.ok(!cached.some((e) => e.node === 'solver'), 'no cache entry for the failed node');
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.includes('.partial-')),
      [],
    );
    assert.equal(tf.memory().numTensors, before);
  });
}

test('every solver, sampler and decoder declares finite outputs (the one shared check)', () => {
  const checked = BUILTIN_NODES.filter((d) => d.finiteOutputs).map((d) => d.type);
  for (const d of BUILTIN_NODES) if (d.category === 'baseline') assert.ok(checked.includes(d.type), d.type);
  for (const t of ['sample', 'decode', 'encode', 'posterior-fit', 'ancestral-sample', 'dps-refine'])
    assert.ok(checked.includes(t), t);
  assert.equal(checked.filter((t) => t.startsWith('baseline.')).length, 7);
});

test('the shared check: any node declaring finite outputs, infinity included, the last step named', async () => {
  const d = await writeFiles({
    'p.yaml': testPipeline(`  src:
    type: test.count
    params: { n: 2 }
  d:
    type: test.diverge
    inputs: { x: src.value }
    params: { factor: .inf, steps: 7 }
`),
  });
  await assert.rejects(
    runPlan(await loadPlan(path.join(d, 'p.yaml')), { cache: false }).result,
    /^FlowError: node 'd' \(test\.diverge\) on item 'i000[01]': output 'y' has 4 non-finite values \(NaN or infinity\) after step 7\/7; nothing of it is saved$/,
  );
  const fine = await runPlan(await loadPlan(path.join(d, 'p.yaml'), { overrides: ['d.factor=3'] }), {
    cache: false,
    keep: ['d.y'],
  }).result;
  assert.deepEqual(
    await (fine.outputs['d.y']?.get('i0001') as tf.Tensor).data(),
    new Float32Array([3, 3, 3, 3]),
  );
});
