/** The `flow` command as a user runs it: exit codes, one-line errors, outputs, cache, Ctrl-C. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile, readdir, stat, writeFile, copyFile, mkdir } from 'node:fs/promises';
import { REPO, pipeline, tempDir, writeFiles } from '../engine/helpers.js';
import { flow, lines } from './run-flow.js';

test('validate, graph and nodes describe a pipeline without running it', async () => {
  const v = await flow(['validate', 'pipelines/measure-demo.yaml']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /measure-demo.yaml: ok \(\d+ nodes, \d+ edges\)/);
  const dot = await flow(['graph', 'pipelines/measure-demo.yaml', '--format', 'dot']);
  assert.equal(dot.code, 0, dot.stderr);
  assert.match(dot.stdout, /^digraph flow \{/);
  assert.match(dot.stdout, /"sr-eval\/naive"/);
  const mermaid = await flow(['graph', 'pipelines/measure-demo.yaml']);
  assert.match(mermaid.stdout, /^flowchart LR/);
  assert.match(mermaid.stdout, /subgraph sr_eval/);
  const main = await flow(['validate', 'pipelines/ldm-sr4x.yaml']);
  assert.equal(main.code, 0, `the main job validates with the embedded model: ${main.stderr}`);
  const noModel = await flow([
    'validate',
    'pipelines/ldm-sr4x.yaml',
    '--set',
    'input/prior.path=/nonexistent/model',
  ]);
  assert.equal(noModel.code, 1);
  assert.match(
    noModel.stderr,
    /^flow: .*fashion-input\.yaml:\d+:\d+: node 'input\/prior' \(model\): model folder '\/nonexistent\/model' has no model\.yaml\n$/,
  );
  const nodes = await flow(['nodes', 'measure.sr']);
  assert.equal(nodes.code, 0);
  assert.match(nodes.stdout, /factor: integer \[2\.\.\] = 4/);
  const json = JSON.parse((await flow(['nodes', '--json'])).stdout) as { type: string }[];
  assert.ok(json.some((n) => n.type === 'load') && json.some((n) => n.type === 'metric'));
  const unknown = await flow(['nodes', 'mesure.sr']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /unknown node type 'mesure.sr' \(did you mean 'measure.sr'\?\)/);
});

test('bad input: one-line error with file:line:col, non-zero exit, no stack unless --debug', async () => {
  const dir = await writeFiles({ 'p.yaml': pipeline('  a:\n    type: test.count\n    params: {n: many}\n') });
  const r = await flow(['run', path.join(dir, 'p.yaml'), '--out', path.join(dir, 'out')]);
  assert.equal(r.code, 1);
  const errLines = lines(r.stderr);
  assert.equal(errLines.length, 1, r.stderr);
  assert.match(errLines[0] as string, /^flow: .*p\.yaml:11:17: 'a\.params\.n' must be integer$/);
  await assert.rejects(stat(path.join(dir, 'out')), /ENOENT/);
  const d = await flow(['run', path.join(dir, 'p.yaml'), '--debug']);
  assert.equal(d.code, 1);
  assert.match(d.stderr, /\n\s+at /, 'stack trace with --debug');
  const missing = await flow(['run', path.join(dir, 'nope.yaml')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^flow: .*nope\.yaml: pipeline file not found\n$/);
  const badOption = await flow(['run', path.join(dir, 'p.yaml'), '--frobnicate']);
  assert.equal(badOption.code, 2);
  const badSet = await flow(['run', 'pipelines/measure-demo.yaml', '--set', 'samples=8']);
  assert.equal(badSet.code, 1);
  assert.match(badSet.stderr, /--set samples=8: the pipeline has no param 'samples'/);
});

test('missing and corrupt images fail with the path named and no output folder', async () => {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'imgs'));
  await copyFile(path.join(REPO, 'assets/images/64/camera.png'), path.join(dir, 'imgs/a.png'));
  await writeFile(
    path.join(dir, 'imgs/b.png'),
    (await readFile(path.join(REPO, 'assets/images/64/coffee.png'))).subarray(0, 300),
  );
  const text = (p: string) =>
    `version: 1\nname: t\nnodes:\n  images:\n    type: load\n    params: { path: ${p} }\n  sr:\n    type: measure.sr\n    inputs: { image: images.image }\n  save:\n    type: save\n    inputs: { samples: sr.measurement }\n`;
  await writeFile(path.join(dir, 'corrupt.yaml'), text('imgs/*.png'));
  await writeFile(path.join(dir, 'missing.yaml'), text('imgs/none.png'));
  const corrupt = await flow([
    'run',
    path.join(dir, 'corrupt.yaml'),
    '--out',
    path.join(dir, 'out'),
    '--no-cache',
  ]);
  assert.equal(corrupt.code, 1);
  assert.equal(
    lines(corrupt.stderr).filter((l) => l.startsWith('flow: ') && !l.includes(' on backend ')).length,
    1,
  );
  assert.match(corrupt.stderr, /imgs\/b\.png/);
  await assert.rejects(stat(path.join(dir, 'out')), /ENOENT/);
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.includes('partial')),
    [],
  );
  const missing = await flow(['run', path.join(dir, 'missing.yaml'), '--out', path.join(dir, 'out')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /none\.png/);
  await assert.rejects(stat(path.join(dir, 'out')), /ENOENT/);
});

test('measure-demo runs end to end; the second run is a full cache hit; a save change re-runs only save', async () => {
  const dir = await tempDir();
  const out = path.join(dir, 'out');
  const cacheDir = path.join(dir, 'cache');
  const common = ['--out', out, '--cache-dir', cacheDir, '--backend', 'wasm', '--log', 'json'];
  const first = await flow(['run', 'pipelines/measure-demo.yaml', ...common]);
  assert.equal(first.code, 0, first.stderr);
  const events = lines(first.stdout).map(
    (l) => JSON.parse(l) as { type: string; node?: string; cached?: boolean },
  );
  assert.ok(events.some((e) => e.type === 'node-done' && e.node === 'sr-eval/score'));
  const run1 = JSON.parse(await readFile(path.join(out, 'run.json'), 'utf8'));
  assert.equal(run1.backend.name, 'wasm');
  assert.ok(
    run1.files.includes('sr4x/camera/grid.png') && run1.files.includes('inpaint/coffee/sample-00.png'),
  );
  assert.ok(run1.metrics['inpaint-score'].camera.psnr_missing_mean > 0);
  const second = await flow(['run', 'pipelines/measure-demo.yaml', ...common]);
  assert.equal(second.code, 0, second.stderr);
  const run2 = JSON.parse(await readFile(path.join(out, 'run.json'), 'utf8'));
  assert.equal(run2.cache.misses, 0);
  for (const [id, n] of Object.entries(
    run2.nodes as Record<string, { executions: number; cacheHits: number }>,
  )) {
    assert.equal(n.cacheHits, n.executions, `${id} hit`);
  }
  assert.deepEqual(run2.metrics, run1.metrics);
  assert.deepEqual(
    await readFile(path.join(out, 'sr4x/camera/grid.png')),
    await readFile(path.join(out, 'sr4x/camera/grid.png')),
  );
  const third = await flow([
    'run',
    'pipelines/measure-demo.yaml',
    ...common,
    '--set',
    'sr-eval/save.prefix=sr-renamed/',
  ]);
  assert.equal(third.code, 0, third.stderr);
  const run3 = JSON.parse(await readFile(path.join(out, 'run.json'), 'utf8'));
  const reran = Object.entries(run3.nodes as Record<string, { executions: number; cacheHits: number }>)
    .filter(([, n]) => n.cacheHits < n.executions)
    .map(([id]) => id);
  assert.deepEqual(reran, ['sr-eval/save']);
  assert.ok(run3.files.includes('sr-renamed/camera/grid.png'));
  const ls = await flow(['cache', 'ls', '--cache-dir', cacheDir]);
  assert.match(ls.stdout, /(\d+) entries/);
  const clear = await flow(['cache', 'clear', '--cache-dir', cacheDir]);
  assert.match(clear.stdout, /removed \d+ entries/);
  assert.deepEqual(await readdir(cacheDir), [], 'entries and their shard folders gone; the folder stays');
});

test('Ctrl-C (SIGINT) stops a run promptly with exit 130 and writes no outputs', async () => {
  const dir = await writeFiles({
    'p.yaml': pipeline(`  src:
    type: test.count
    params: { n: 3 }
  slow:
    type: test.slow
    inputs: { x: src.value }
    params: { steps: 1000, ms: 20 }
  total:
    type: test.total
    inputs: { x: slow.y }
`),
  });
  const out = path.join(dir, 'out');
  let sentAt = 0;
  const r = await flow(
    ['run', path.join(dir, 'p.yaml'), '--out', out, '--log', 'json', '--cache-dir', path.join(dir, 'c')],
    {
      onStdout: (chunk, kill) => {
        if (!sentAt && chunk.includes('"progress"')) {
          sentAt = Date.now();
          kill('SIGINT');
        }
      },
    },
  );
  const stopMs = Date.now() - sentAt;
  assert.ok(sentAt > 0, 'saw progress');
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /interrupted/);
  // The slow node alone would take 60 s; the run stops long before.
  assert.ok(stopMs < 5000, `stopped ${stopMs} ms after SIGINT`);
  await assert.rejects(stat(out), /ENOENT/);
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.includes('partial')),
    [],
  );
});

const LPIPS_REF = path.resolve(REPO, '../shared/reference/lpips');
test(
  'import-lpips writes a perceptual model folder that inspect reads; a bad file is a one-line error',
  {
    skip: (await stat(LPIPS_REF).catch(() => undefined))
      ? false
      : `no LPIPS reference weights at ${LPIPS_REF}`,
  },
  async () => {
    const dir = await tempDir();
    const out = path.join(dir, 'lpips-squeeze');
    const args = ['import-lpips', '--lin', path.join(LPIPS_REF, 'squeeze.pth'), '--backbone'];
    const ok = await flow([...args, path.join(LPIPS_REF, 'squeeze.backbone.pth'), '--out', out]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(
      ok.stdout,
      /wrote .*lpips-squeeze\/model\.yaml: perceptual \(LPIPS squeeze\), 72\d{4} parameters/,
    );
    const inspected = await flow(['inspect', out]);
    assert.equal(inspected.code, 0, inspected.stderr);
    assert.match(inspected.stdout, /perceptual/);
    const bad = await flow([...args, path.join(LPIPS_REF, 'ex_ref.png'), '--out', path.join(dir, 'bad')]);
    assert.equal(bad.code, 1);
    assert.equal(lines(bad.stderr).length, 1, bad.stderr);
    assert.match(bad.stderr, /^flow: .*ex_ref\.png/);
    await assert.rejects(stat(path.join(dir, 'bad')));
  },
);
