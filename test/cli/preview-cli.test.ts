/** `flow run --preview-every K`: previews go out as JSON lines (base64 pixels) and nowhere else. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO, tempDir } from '../engine/helpers.js';
import { writeTinyPipelines } from '../serve/helpers.js';

function flow(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src/cli/bin.ts'), ...args], {
      cwd: REPO,
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('flow run --preview-every: JSON preview lines in --log json, nothing extra otherwise', async () => {
  const file = path.join(await writeTinyPipelines(), 'baselines/tiny-dps.yaml');
  const out = await tempDir();
  const args = ['run', file, '--no-cache', '--set', 'iterations=4'];
  const json = await flow([...args, '--log', 'json', '--preview-every', '2', '--out', path.join(out, 'a')]);
  assert.equal(json.code, 0, json.stderr);
  const previews = json.stdout
    .split('\n')
    .filter((l) => l.includes('"type":"preview"'))
    .map(
      (l) =>
        JSON.parse(l) as { step: number; width: number; height: number; channels: number; pixels: string },
    );
  assert.deepEqual(
    previews.map((p) => p.step),
    [2, 4],
  );
  for (const p of previews)
    assert.equal(Buffer.from(p.pixels, 'base64').length, p.width * p.height * p.channels);
  const plain = await flow([...args, '--log', 'plain', '--preview-every', '2', '--out', path.join(out, 'b')]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.doesNotMatch(plain.stdout + plain.stderr, /preview/);
  const bad = await flow([...args, '--preview-every', '0']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--preview-every must be an integer >= 1, got '0'/);
});
