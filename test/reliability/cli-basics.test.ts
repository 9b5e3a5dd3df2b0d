/**
 * What users expect of any command: `--version`, `inspect --tensors`, a LICENSE matching
 * package.json, seeds validated in both forms, a size limit on pipeline files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { loadPlan } from '../../src/graph/plan.js';
import { REPO, pipeline, writeFiles } from '../engine/helpers.js';
import { flow, lines } from '../cli/run-flow.js';

const pkg = JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8')) as {
  version: string;
  license: string;
};

test('flow --version prints the package version; LICENSE is the MIT licence package.json names', async () => {
  const r = await flow(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), pkg.version);
  assert.equal(pkg.license, 'MIT');
  assert.match(await readFile(path.join(REPO, 'LICENSE'), 'utf8'), /^MIT License\n/);
});

test('flow inspect --tensors lists every tensor with dtype and shape', async () => {
  const r = await flow(['inspect', 'models/fashion-classifier', '--tensors']);
  assert.equal(r.code, 0, r.stderr);
  const rows = lines(r.stdout).filter((l) => /^\s{2}\S+\s+float32\s+\[[\d, ]*\]$/.test(l));
  const count = Number(/tensors:\s+(\d+)/.exec(r.stdout)?.[1]);
  assert.ok(count > 0);
  assert.equal(rows.length, count, r.stdout);
});

test('seeds: --set seed=abc and --seed abc are both refused; out-of-range integers too', async () => {
  const dir = await writeFiles({ 'p.yaml': pipeline('  src:\n    type: test.count\n') });
  const file = path.join(dir, 'p.yaml');
  await assert.rejects(
    loadPlan(file, { overrides: ['seed=abc'] }),
    /seed must be an integer in \[0, 4294967295\], got "abc"/,
  );
  await assert.rejects(
    loadPlan(file, { overrides: ['seed=1.5'] }),
    /seed must be an integer in \[0, 4294967295\], got 1\.5/,
  );
  await assert.rejects(loadPlan(file, { overrides: ['seed=-1'] }), /seed must be an integer/);
  await assert.rejects(loadPlan(file, { overrides: ['seed=4294967296'] }), /seed must be an integer/);
  assert.equal((await loadPlan(file, { overrides: ['seed=4294967295'] })).params.seed, 4294967295);
  const bad = await writeFiles({
    'p.yaml': pipeline('  src:\n    type: test.count\n').replace('seed: 1', 'seed: x'),
  });
  await assert.rejects(loadPlan(path.join(bad, 'p.yaml')), /seed must be an integer/);
  const cli = await flow(['validate', file, '--seed', 'abc']);
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, /--seed must be an integer in \[0, 4294967295\], got 'abc'/);
});

test('a pipeline file over the size limit is refused at once, in one line', async () => {
  const dir = await writeFiles({});
  const file = path.join(dir, 'big.yaml');
  await writeFile(
    file,
    `version: 1\nname: big\nparams:\n${'  # padding padding padding padding\n'.repeat(200_000)}nodes: {}\n`,
  );
  const t0 = Date.now();
  await assert.rejects(
    loadPlan(file),
    /big\.yaml: pipeline file is \d+ bytes, more than the 1048576 allowed/,
  );
  assert.ok(Date.now() - t0 < 5000);
});
