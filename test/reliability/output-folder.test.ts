/**
 * The output folder never costs a user a file: flow replaces only a folder its own previous run
 * wrote (marked, and holding nothing else), refuses every other non-empty folder, and a full disk
 * fails with one line, no staging folder and no unhandled rejection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, readdir, stat, writeFile, utimes } from 'node:fs/promises';
import { loadPlan } from '../../src/graph/plan.js';
import { runPlan, type RunOptions } from '../../src/runtime/execute.js';
import { StageCache } from '../../src/runtime/cache.js';
import { initBackend } from '../../src/runtime/backend.js';
import { FlowError } from '../../src/graph/errors.js';
import { OUTPUT_MARKER } from '../../src/runtime/output-marker.js';
import type { FlowEvent } from '../../src/runtime/events.js';
import { pipeline, tempDir, writeFiles } from '../engine/helpers.js';
import { flow, lines } from '../cli/run-flow.js';

await initBackend('wasm');

const WRITER = pipeline(`  src:
    type: test.count
  total:
    type: test.total
    inputs: { x: src.value }
  save:
    type: test.write
    inputs: { x: total.total }
`);

async function run(file: string, opts: RunOptions = {}): Promise<FlowEvent[]> {
  const handle = runPlan(await loadPlan(file), opts);
  const events: FlowEvent[] = [];
  handle.events$.subscribe((e) => events.push(e));
  await handle.result;
  return events;
}

const staged = async (dir: string): Promise<string[]> =>
  (await readdir(dir)).filter((f) => f.includes('.partial-'));

test('a folder holding files flow did not write is refused, untouched, with a way out', async () => {
  const dir = await writeFiles({
    'p.yaml': WRITER,
    'out/notes.txt': 'mine',
    'out/sub/thesis.tex': 'mine too',
  });
  const out = path.join(dir, 'out');
  await assert.rejects(run(path.join(dir, 'p.yaml'), { outDir: out, cache: false }), (e: unknown) => {
    assert.ok(e instanceof FlowError);
    assert.match(e.message, /^output folder '.*out' holds files flow did not write \(notes\.txt/);
    assert.match(e.message, /choose another folder with --out/);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
  assert.equal(await readFile(path.join(out, 'notes.txt'), 'utf8'), 'mine');
  assert.equal(await readFile(path.join(out, 'sub/thesis.tex'), 'utf8'), 'mine too');
  assert.deepEqual(await staged(dir), []);
});

test('flow replaces its own previous output, but not once the user adds a file to it', async () => {
  const dir = await writeFiles({ 'p.yaml': WRITER });
  const out = path.join(dir, 'out');
  await mkdir(out); // an existing empty folder is fine
  await run(path.join(dir, 'p.yaml'), { outDir: out, cache: false });
  const marker = JSON.parse(await readFile(path.join(out, OUTPUT_MARKER), 'utf8')) as { files: string[] };
  assert.ok(marker.files.includes('run.json') && marker.files.includes('i0000/value.txt'));
  await run(path.join(dir, 'p.yaml'), { outDir: out, cache: false });
  assert.equal(await readFile(path.join(out, 'i0001/value.txt'), 'utf8'), '4\n');
  assert.deepEqual(await staged(dir), []);

  await writeFile(path.join(out, 'i0001/my-notes.md'), 'keep me');
  await assert.rejects(
    run(path.join(dir, 'p.yaml'), { outDir: out, cache: false }),
    /holds files flow did not write \(i0001\/my-notes\.md\)/,
  );
  assert.equal(await readFile(path.join(out, 'i0001/my-notes.md'), 'utf8'), 'keep me');
  assert.ok((await stat(path.join(out, 'run.json'))).isFile(), 'the previous output stays');
  await writeFile(path.join(dir, 'a-file'), 'x');
  await assert.rejects(
    run(path.join(dir, 'p.yaml'), { outDir: path.join(dir, 'a-file'), cache: false }),
    /output folder '.*a-file' is a file/,
  );
});

test('--out . and the folders above it are refused in one line; the pipeline file survives', async () => {
  const dir = await writeFiles({ 'p.yaml': WRITER, 'data/keep.txt': 'x' });
  for (const out of ['.', '..', '/', dir]) {
    const r = await flow(['run', 'p.yaml', '--out', out, '--no-cache'], { cwd: dir });
    assert.equal(r.code, 1, r.stderr);
    const errs = lines(r.stderr).filter((l) => !l.includes(' on backend ') && !l.startsWith('  (not used'));
    assert.equal(errs.length, 1, r.stderr);
    assert.match(
      errs[0] as string,
      /^flow: output folder '.*' (holds files flow did not write|is the current folder or contains it)/,
    );
    assert.match(errs[0] as string, /choose another folder with --out/);
  }
  assert.ok((await stat(path.join(dir, 'p.yaml'))).isFile());
  assert.equal(await readFile(path.join(dir, 'data/keep.txt'), 'utf8'), 'x');
  assert.deepEqual(await staged(dir), []);
  assert.deepEqual(await staged(path.dirname(dir)), []);
});

test("stale staging folders of killed runs are removed at the next run; others' folders are not", async () => {
  const dir = await writeFiles({ 'p.yaml': WRITER });
  const dead = path.join(dir, '.out.partial-999999999-abcdef');
  await mkdir(dead);
  await writeFile(path.join(dead, OUTPUT_MARKER), '{"flow":"output","files":[]}');
  await writeFile(path.join(dead, 'half.png'), 'x');
  const old = new Date(Date.now() - 2 * 86400_000);
  await utimes(dead, old, old);
  const foreign = path.join(dir, '.out.partial-999999999-fedcba'); // no marker: not flow's
  await mkdir(foreign);
  await writeFile(path.join(foreign, 'x'), 'x');
  await run(path.join(dir, 'p.yaml'), { outDir: path.join(dir, 'out'), cache: false });
  await assert.rejects(stat(dead), /ENOENT/);
  assert.ok((await stat(path.join(foreign, 'x'))).isFile());
});

/** A 1 MiB tmpfs (root only); the tests skip cleanly where mounting is not allowed. */
async function smallDisk(): Promise<{ dir: string; release: () => void } | undefined> {
  const dir = await tempDir('flow-full-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  return { dir, release: () => execFileSync('umount', [dir]) };
}

const BIG = pipeline(`  src:
    type: test.count
    params: { n: 4 }
  blob:
    type: test.bytes
    inputs: { x: src.value }
    params: { kib: 400 }
`);

test('a full disk under --out: one line naming the folder, exit 1, no staging folder left', async (t) => {
  const disk = await smallDisk();
  if (!disk) return t.skip('cannot mount a tmpfs here');
  try {
    const dir = await writeFiles({ 'p.yaml': BIG });
    const out = path.join(disk.dir, 'out');
    for (let i = 0; i < 3; i++) {
      const r = await flow(['run', path.join(dir, 'p.yaml'), '--out', out, '--no-cache', '--log', 'plain']);
      assert.equal(r.code, 1, r.stderr);
      const errs = lines(r.stderr).filter((l) => l.startsWith('flow: ') && !l.includes(' on backend '));
      assert.equal(errs.length, 1, r.stderr);
      assert.match(
        errs[0] as string,
        /^flow: cannot write the output folder '.*out': no space left on device/,
      );
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      assert.deepEqual(await readdir(disk.dir), [], 'no staging folder and no output');
    }
  } finally {
    disk.release();
  }
});

/** Run p.yaml in `dir` with the cache in `cacheDir`: exactly one warning, saying why the cache is not written. */
async function runWithOneCacheWarning(dir: string, cacheDir: string, why: string): Promise<void> {
  const events = await run(path.join(dir, 'p.yaml'), {
    outDir: path.join(dir, 'out'),
    cache: new StageCache({ dir: cacheDir }),
  });
  const warnings = events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message);
  assert.deepEqual(warnings, [
    `cannot write the stage cache '${cacheDir}' (${why}); running without writing it`,
  ]);
}

test('a full or read-only cache folder: the run goes on without writing the cache, and says so', async (t) => {
  const disk = await smallDisk();
  if (!disk) return t.skip('cannot mount a tmpfs here');
  try {
    const dir = await writeFiles({ 'p.yaml': BIG });
    await runWithOneCacheWarning(dir, path.join(disk.dir, 'cache'), 'no space left on device');
    assert.equal((await readdir(path.join(dir, 'out'))).filter((f) => f.endsWith('.bin')).length, 4);
    const tmp = (await readdir(path.join(disk.dir, 'cache'), { recursive: true })).filter((f) =>
      f.includes('.tmp-'),
    );
    assert.deepEqual(tmp, [], 'no temporary cache files left');
  } finally {
    disk.release();
  }
  const ro = await smallDisk();
  if (!ro) return;
  try {
    execFileSync('mount', ['-o', 'remount,ro', ro.dir]);
    const dir = await writeFiles({ 'p.yaml': WRITER });
    await runWithOneCacheWarning(dir, path.join(ro.dir, 'cache'), 'read-only file system');
  } finally {
    ro.release();
  }
});
