/**
 * The maintainer training scripts (scripts/train, PyTorch) reproduce a run exactly whether it is
 * trained in one go or in resumed chunks, and refuse a resume whose --steps would stretch the
 * learning-rate schedule. Runs the classifier trainer for a few steps; skipped where PyTorch or
 * the Fashion-MNIST files are absent (they come from scripts/setup-system.sh, which CI does not run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO, tempDir } from '../engine/helpers.js';

const PYTHON = '/usr/bin/python3';
const DATA = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
const hasTorch =
  existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
const skip = !hasTorch
  ? 'PyTorch is not installed (scripts/setup-system.sh)'
  : !existsSync(path.join(DATA, 't10k-labels-idx1-ubyte.gz'))
    ? 'the Fashion-MNIST files are not installed (scripts/setup-system.sh)'
    : false;

function train(out: string, ...args: string[]): { status: number | null; output: string } {
  const r = spawnSync(PYTHON, [path.join(REPO, 'scripts/train/classifier.py'), '--minutes', '10', ...args], {
    encoding: 'utf8',
    env: { ...process.env, TRAIN_OUT: out },
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

test(
  'classifier training: chunks reproduce one run bit for bit; a changed --steps is refused',
  { skip },
  async () => {
    const whole = await tempDir('flow-train-');
    const chunked = await tempDir('flow-train-');
    assert.equal(train(whole, '--steps', '6').status, 0);
    const first = train(chunked, '--steps', '6', '--stop-at', '3');
    assert.equal(first.status, 0, first.output);
    assert.match(first.output, /chunk done at step 3\/6/);
    const refused = train(chunked, '--steps', '8');
    assert.notEqual(refused.status, 0);
    assert.match(refused.output, /was started with --steps 6, not 8/);
    const second = train(chunked, '--steps', '6');
    assert.equal(second.status, 0, second.output);
    assert.match(second.output, /resumed at step 3/);
    const a = await readFile(path.join(whole, 'classifier/model.safetensors'));
    const b = await readFile(path.join(chunked, 'classifier/model.safetensors'));
    assert.ok(a.equals(b), 'the exported weights are identical');
    const curve = await readFile(path.join(chunked, 'classifier/loss.csv'), 'utf8');
    assert.match(curve.split('\n')[0] ?? '', /^step,minutes,loss/);
  },
);
