/**
 * `flow pull` as a user runs it, against the local fake hub: the folder alone on stdout, progress
 * and notes on stderr, one-line errors with exit 1, HF_TOKEN from the environment, the store from
 * FLOW_STORE, a known repo fetching only its preset's file.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import os from 'node:os';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { HubClient } from '../../src/hub/hub-client.js';
import { pull } from '../../src/hub/pull.js';
import { parseRepoRef } from '../../src/hub/repo-ref.js';
import { ModelStore } from '../../src/hub/store.js';
import { startFakeHub, TOKEN, type FakeHub } from './fake-hub.js';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
const SHA = 'd'.repeat(40);
const BIG = Buffer.alloc(200_000, 7);
let hub: FakeHub;
let scratch: string;

before(async () => {
  hub = await startFakeHub({
    'org/gated': {
      access: 'gated',
      refs: { main: SHA },
      commits: { [SHA]: { 'w.bin': Buffer.alloc(3000, 9) } },
    },
    'org/big': { refs: { main: SHA }, commits: { [SHA]: { 'w.bin': BIG } } },
    'stabilityai/sd-vae-ft-mse-original': {
      refs: { main: SHA },
      commits: {
        [SHA]: {
          'vae-ft-mse-840000-ema-pruned.safetensors': Buffer.alloc(2048, 5),
          'vae-ft-mse-840000-ema-pruned.ckpt': Buffer.alloc(2048, 6),
        },
      },
    },
  });
  scratch = await mkdtemp(path.join(os.tmpdir(), 'flow-pull-cli-'));
});
after(async () => {
  await hub.close();
  await rm(scratch, { recursive: true, force: true });
});

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function flow(
  args: string[],
  env: Record<string, string> = {},
  onStart: (kill: () => void) => void = () => undefined,
): Promise<Ran> {
  const base = { ...process.env };
  for (const k of [
    'HF_TOKEN',
    'HUGGING_FACE_HUB_TOKEN',
    'HF_HUB_OFFLINE',
    'HF_ENDPOINT',
    'FLOW_STORE',
    'FLOW_HOME',
  ])
    delete base[k];
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(REPO_ROOT, 'src/cli/bin.ts'), ...args],
      {
        cwd: REPO_ROOT,
        env: { ...base, HF_ENDPOINT: hub.endpoint, ...env },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    onStart(() => child.kill('SIGINT'));
  });
}

test('a gated repo: one-line 401 error without HF_TOKEN, the snapshot path on stdout with it; offline miss', async () => {
  const store = path.join(scratch, 'gated');
  const denied = await flow(['pull', 'org/gated', '--store', store]);
  assert.equal(denied.code, 1);
  assert.equal(denied.stdout, '');
  assert.match(
    denied.stderr,
    /flow: org\/gated is gated: accept its terms on the hub and set HF_TOKEN to an access token\n$/,
  );
  assert.equal(denied.stderr.split('\n').filter((l) => l.startsWith('flow: org/gated is gated')).length, 1);

  const ok = await flow(['pull', 'org/gated'], { HF_TOKEN: TOKEN, FLOW_STORE: store });
  assert.equal(ok.code, 0, ok.stderr);
  const snapshot = path.join(store, 'hub', 'org', 'gated', 'snapshots', SHA);
  assert.equal(ok.stdout, `${snapshot}\n`);
  assert.match(ok.stderr, /flow: org\/gated@main is commit d{40}: 1 files, 2\.9 KB\n/);
  assert.match(ok.stderr, /fetched w\.bin \(2\.9 KB\)/);

  const miss = await flow(['pull', 'org/gated@v2', '--store', store], { HF_HUB_OFFLINE: '1' });
  assert.equal(miss.code, 1);
  assert.match(miss.stderr, /^flow: offline: org\/gated@v2 is not in the store .*; pull it once online\n$/);
});

test('a known repo fetches only the file its preset reads; --no-convert prints the snapshot', async () => {
  const store = path.join(scratch, 'known');
  const r = await flow(['pull', 'stabilityai/sd-vae-ft-mse-original', '--store', store, '--no-convert']);
  assert.equal(r.code, 0, r.stderr);
  const snapshot = path.join(store, 'hub', 'stabilityai', 'sd-vae-ft-mse-original', 'snapshots', SHA);
  assert.equal(r.stdout, `${snapshot}\n`);
  assert.deepEqual(await readdir(snapshot), ['vae-ft-mse-840000-ema-pruned.safetensors']);
  assert.match(r.stderr, /fetching vae-ft-mse-840000-ema-pruned\.safetensors \(what preset sd-v1-vae reads/);
  assert.doesNotMatch(r.stderr, /convert/);
});

test('Ctrl-C during a download exits 130 and keeps the partial file, which the next pull resumes', async () => {
  const store = path.join(scratch, 'interrupted');
  hub.faults.stallAfter.set('w.bin', 50_000);
  const partial = path.join(store, 'hub', 'org', 'big', 'partial', SHA, 'w.bin.part');
  const stopped = await flow(['pull', 'org/big', '--store', store], {}, (kill) => {
    // Bounded wait (60 s) for the stalled download to have written its first bytes.
    void (async () => {
      for (let i = 0; i < 600; i++) {
        const size = await stat(partial).then(
          (s) => s.size,
          () => 0,
        );
        if (size === 50_000) return kill();
        await new Promise((r) => setTimeout(r, 100));
      }
      kill();
    })();
  });
  assert.equal(stopped.code, 130, stopped.stderr);
  assert.match(
    stopped.stderr,
    /flow: interrupted; the partial download is kept and the next pull resumes it\n$/,
  );
  assert.equal((await stat(partial)).size, 50_000);
  const before = hub.requests.length;
  const store2 = new ModelStore(store);
  const r = await pull({
    ref: parseRepoRef('org/big'),
    store: store2,
    client: new HubClient({ endpoint: hub.endpoint }),
  });
  assert.ok((await readFile(path.join(r.snapshot, 'w.bin'))).equals(BIG));
  const ranges = hub.requests
    .slice(before)
    .filter((q) => q.path.startsWith('/cdn/') && q.range !== 'bytes=0-0');
  assert.deepEqual(
    ranges.map((q) => q.range),
    ['bytes=50000-'],
  );
});
