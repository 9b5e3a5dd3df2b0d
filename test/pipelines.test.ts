/**
 * The shipped pipelines load and check; the VIPaint pipelines run end to end when pointed at a
 * model folder (here the tiny fixture LDM, with few iterations), through their shared chains.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readdir } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { loadPlan } from '../src/graph/plan.js';
import { runPlan } from '../src/runtime/execute.js';
import { initBackend } from '../src/runtime/backend.js';
import { REPO, tempDir } from './engine/helpers.js';
import { writeTinyEdm, writeTinyLdm } from './models/tiny-models.js';
import { formatStudyTable, summarizeStudy } from '../src/report/study.js';
import { importReferenceLpips, lpipsSkip } from './helpers/lpips.js';
import { likelihoodScaleCommand } from '../src/cli/likelihood-scale-command.js';

await initBackend('wasm');

test('every shipped pipeline and chain loads and passes the graph checks', async () => {
  const files = [
    ...(await readdir(path.join(REPO, 'pipelines')))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => path.join('pipelines', f)),
    'examples/custom-node.yaml',
    'examples/vipaint-ablation.yaml',
    ...(await readdir(path.join(REPO, 'pipelines/baselines'))).map((f) =>
      path.join('pipelines/baselines', f),
    ),
    ...(await readdir(path.join(REPO, 'pipelines/study'))).map((f) => path.join('pipelines/study', f)),
  ];
  assert.ok(files.length >= 5);
  for (const f of files) {
    const plan = await loadPlan(path.join(REPO, f));
    assert.ok(plan.nodes.size > 0, f);
  }
});

/** Point the shared input chain at the tiny model and three 16x16 RGB photos. */
function tinyInputs(ldm: string): string[] {
  return [
    `input/prior.path=${ldm}`,
    `input/images.path=${path.join(REPO, 'assets/images/64/c*.png')}`,
    'input/images.size=16',
    'input/images.channels=3',
  ];
}

for (const name of ['ldm-sr4x', 'ldm-inpaint', 'ldm-deblur']) {
  test(`${name} runs on a model folder through the vipaint and evaluate chains`, async () => {
    const ldm = await writeTinyLdm(await tempDir());
    await likelihoodScaleCommand(path.join(REPO, 'assets/images/64/c*.png'), { count: 3, write: ldm });
    const plan = await loadPlan(path.join(REPO, `pipelines/${name}.yaml`), {
      overrides: [
        ...tinyInputs(ldm),
        'samples=2',
        // 1 fit iteration (round(150/550 x 6 / 3) = 1, 3 calls) + 3 refinement steps
        'budget=6',
        ...(name === 'ldm-deblur' ? ['measure.size=7', 'sigma=1.0'] : []),
      ],
    });
    const before = tf.memory().numTensors;
    const { summary, files } = await runPlan(plan, { cache: false }).result;
    assert.deepEqual(Object.keys(summary.metrics['evaluate/score'] ?? {}).sort(), [
      'camera',
      'chelsea',
      'coffee',
    ]);
    assert.equal(
      summary.nodes['vipaint/fit']?.calls.gradient,
      3 * 1 * 3,
      '3 images x 1 iteration x (K + 1) calls',
    );
    assert.equal(summary.nodes['vipaint/refine']?.calls.gradient, 3 * 3, 'the rest of the budget');
    assert.ok(files.some((f) => f.path === 'camera/grid.png'));
    assert.equal(tf.memory().numTensors, before);
  });
}

const baselineSteps: Record<string, string[]> = {
  'ldm-sr4x-dps': ['solver.steps=2'],
  'ldm-sr4x-psld': ['solver.steps=2'],
  'ldm-sr4x-red-diff': ['solver.steps=2'],
  'ldm-sr4x-resample': ['solver.steps=4', 'solver.interval=2', 'solver.lookahead=1', 'solver.optSteps=2'],
  'ldm256-sr4x-dps': ['solver.steps=2'],
  'ldm256-sr4x-psld': ['solver.steps=2'],
  'ldm256-sr4x-resample': ['solver.steps=4', 'solver.interval=2', 'solver.lookahead=1', 'solver.optSteps=2'],
  'ldm-inpaint-blended': ['solver.steps=2'],
  'ldm-inpaint-dps': ['solver.steps=2'],
  'ldm-inpaint-repaint': ['solver.steps=4', 'solver.jumpLength=2', 'solver.resamplings=2'],
  'ldm-deblur-dps': ['solver.steps=2', 'measure.size=7', 'sigma=1.0'],
  'ldm-deblur-red-diff': ['solver.steps=2', 'measure.size=7', 'sigma=1.0'],
  'pixel-inpaint-dps': ['solver.steps=2'],
  'pixel-inpaint-red-diff': ['solver.steps=2', 'solver.times=random'],
  'pixel-inpaint-blended': ['solver.steps=2'],
  'pixel-inpaint-repaint': ['solver.steps=4', 'solver.jumpLength=2', 'solver.resamplings=2'],
  'pixel-inpaint-copaint': ['solver.steps=2', 'solver.timeTravel=true'],
  'pixel-deblur-dps': ['solver.steps=2', 'measure.size=7', 'sigma=1.0'],
};

test('the baseline pipelines run on model folders (tiny LDM / EDM) through the shared chains', async () => {
  const dir = await tempDir();
  const ldm = await writeTinyLdm(dir);
  const edm = await writeTinyEdm(dir);
  const shipped = (await readdir(path.join(REPO, 'pipelines/baselines')))
    .map((f) => f.replace(/\.yaml$/, ''))
    .sort();
  assert.deepEqual(shipped, Object.keys(baselineSteps).sort(), 'every baseline pipeline is exercised');
  for (const [name, steps] of Object.entries(baselineSteps)) {
    const inputs = name.startsWith('pixel-')
      ? [
          `input/prior.path=${edm}`,
          `input/images.path=${path.join(REPO, 'assets/images/64/c*.png')}`,
          'input/images.size=16',
        ]
      : tinyInputs(ldm);
    const plan = await loadPlan(path.join(REPO, `pipelines/baselines/${name}.yaml`), {
      overrides: [...inputs, 'samples=1', ...steps],
    });
    const { summary } = await runPlan(plan, { cache: false }).result;
    assert.equal(Object.keys(summary.metrics['evaluate/score'] ?? {}).length, 3, name);
    const calls = summary.nodes.solver?.calls;
    assert.ok(calls && calls.forward + calls.gradient > 0, `${name} counts network calls`);
  }
});

test('examples/vipaint-ablation.yaml: one fit feeds a guided and an unguided refinement', async () => {
  const ldm = await writeTinyLdm(await tempDir());
  await likelihoodScaleCommand(path.join(REPO, 'assets/images/64/c*.png'), { count: 3, write: ldm });
  const plan = await loadPlan(path.join(REPO, 'examples/vipaint-ablation.yaml'), {
    overrides: [...tinyInputs(ldm), 'samples=2', 'budget=6'],
  });
  const { summary } = await runPlan(plan, { cache: false }).result;
  assert.equal(summary.nodes['vipaint/fit']?.executions, 3, 'fitted once per image');
  assert.equal(Object.keys(summary.metrics['guided-eval/score'] ?? {}).length, 3);
  assert.equal(Object.keys(summary.metrics['unguided-eval/score'] ?? {}).length, 3);
  assert.deepEqual(summary.nodes.unguided?.calls, summary.nodes['vipaint/refine']?.calls, 'the same steps');
});

test('sample-fashion-ldm draws a class grid from a model folder', async () => {
  const ldm = await writeTinyLdm(await tempDir());
  const plan = await loadPlan(path.join(REPO, 'pipelines/sample-fashion-ldm.yaml'), {
    overrides: [
      `prior.path=${ldm}`,
      'steps=2',
      'samples=2',
      'draw.classes=[0, 1]',
      'save.classNames=[shirt, shoe]',
    ],
  });
  const { summary, files } = await runPlan(plan, { cache: false }).result;
  assert.equal(summary.nodes.draw?.calls.forward, 2);
  const grid = files.find((f) => f.path === 'result/grid.png');
  assert.ok(grid, 'grid written');
  const { default: sharp } = await import('sharp');
  const meta = await sharp(Buffer.from(grid.bytes)).metadata();
  assert.ok(
    (meta.width as number) < (meta.height as number) * 2,
    'two class columns of two rows, not one long row',
  );
});

for (const name of ['pixel-inpaint', 'pixel-deblur']) {
  test(`${name} runs VIPaint on a pixel EDM model folder`, async () => {
    const edm = await writeTinyEdm(await tempDir());
    await likelihoodScaleCommand(path.join(REPO, 'assets/images/64/camera.png'), { count: 1, write: edm });
    const plan = await loadPlan(path.join(REPO, `pipelines/${name}.yaml`), {
      overrides: [
        `input/prior.path=${edm}`,
        `input/images.path=${path.join(REPO, 'assets/images/64/camera.png')}`,
        'input/images.size=16',
        'samples=2',
        'budget=6',
        ...(name === 'pixel-deblur' ? ['measure.size=7', 'sigma=1.0'] : []),
      ],
    });
    const { summary } = await runPlan(plan, { cache: false }).result;
    assert.deepEqual((summary.nodeParams['vipaint/keys'] ?? {}).K, 2);
    assert.equal(summary.nodes['vipaint/fit']?.calls.gradient, 1 * 3);
    assert.equal(summary.nodes['vipaint/refine']?.calls.gradient, 3);
    assert.ok(
      Number.isFinite((summary.metrics['evaluate/score']?.camera as Record<string, number>).psnr_mean),
    );
  });
}

for (const [name, methods] of [
  ['fashion-inpaint', ['vipaint2', 'vipaint4', 'dps', 'red-diff', 'blended']],
  ['fashion-sr4x', ['vipaint2', 'vipaint4', 'dps', 'red-diff']],
] as const) {
  test(`study/${name} scores every method on the shipped models, and the summary tabulates them`, async () => {
    const plan = await loadPlan(path.join(REPO, `pipelines/study/${name}.yaml`), {
      overrides: [
        `images=${path.join(REPO, 'assets/fashion/test-000[0-1].png')}`,
        'samples=2',
        // VIPaint-2: 1 fit iteration (3 calls) + 3 steps; VIPaint-4: 1 (5 calls) + 1; the rest 6 steps.
        'budget=6',
      ],
    });
    const { summary } = await runPlan(plan, { cache: false }).result;
    const rows = summarizeStudy(summary);
    assert.deepEqual(
      rows.map((r) => r.method),
      methods,
    );
    for (const row of rows) {
      assert.equal(row.images, 2, row.method);
      const agreement = row.values.agreement?.mean ?? NaN;
      assert.ok(agreement >= 0 && agreement <= 1, `${row.method}: agreement ${agreement}`);
      assert.ok(Number.isFinite(row.values.psnr_mean?.mean), row.method);
      assert.ok((row.values.diversity?.mean ?? 0) > 0, `${row.method}: two samples differ`);
      assert.equal(row.values.psnr_missing_mean !== undefined, name === 'fashion-inpaint', row.method);
    }
    // Network calls per image follow the budget arithmetic (K + 1 per fit iteration, 1 per refinement step).
    const calls = Object.fromEntries(rows.map((r) => [r.method, r.gradientCalls]));
    assert.equal(calls.vipaint2, 3 + 3);
    assert.equal(calls.vipaint4, 5 + 1);
    assert.equal(calls.dps, 6);
    const table = formatStudyTable(rows, { title: name });
    assert.match(table, /\| vipaint2 \| /);
    assert.match(table, /Paired differences, method minus vipaint2/);
  });
}

test(
  'examples/vipaint-lpips.yaml: VIPaint-2 with and without the LPIPS term, both scored with LPIPS',
  { skip: lpipsSkip },
  async () => {
    const dir = await tempDir();
    const lpips = path.join(dir, 'lpips');
    await importReferenceLpips(lpips);
    const plan = await loadPlan(path.join(REPO, 'examples/vipaint-lpips.yaml'), {
      overrides: [
        `lpips=${lpips}`,
        `images=${path.join(REPO, 'assets/fashion/test-0000.png')}`,
        'samples=2',
        'budget=6',
      ],
    });
    const { summary } = await runPlan(plan, { cache: false }).result;
    for (const node of ['lpips-vipaint2', 'lpips-vipaint2-lpips']) {
      const m = Object.values(summary.metrics[node] ?? {})[0] as Record<string, number> | undefined;
      assert.ok(m && m.lpips_mean! > 0 && m.lpips_mean! < 1, `${node}: lpips_mean ${m?.lpips_mean}`);
    }
    assert.deepEqual(summary.nodes['perceptual-fit']?.calls, summary.nodes['vipaint2/fit']?.calls);
  },
);
