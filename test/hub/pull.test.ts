/**
 * flow pull against a local stand-in for the hub (fake-hub.ts, 127.0.0.1, random port): the real
 * client code end to end (@huggingface/hub calls, fetch with Range, hashing, the store), no
 * network. Full pull, --include, an interrupted download resumed, a wrong checksum, a missing
 * revision and repo, a gated repo with and without a token, offline hit and miss, and a file in
 * the store that flow did not write.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdtemp, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { HubClient } from '../../src/hub/hub-client.js';
import { pull, type PullEvent } from '../../src/hub/pull.js';
import { parseRepoRef } from '../../src/hub/repo-ref.js';
import { ModelStore } from '../../src/hub/store.js';
import { startFakeHub, TOKEN, type FakeHub, type FakeRepo } from './fake-hub.js';

/** Deterministic bytes, different for each seed (a linear congruential generator). */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const MAIN = 'a'.repeat(40);
const OLD = 'b'.repeat(40);
const FILES: Record<string, Buffer> = {
  'model_index.json': Buffer.from('{"x":1}\n'),
  'unet/config.json': Buffer.from('{"sample_size":32,"in_channels":4,"out_channels":4}\n'),
  'unet/diffusion_pytorch_model.safetensors': bytes(300_000, 1),
  'vae/diffusion_pytorch_model.safetensors': bytes(80_000, 2),
  'vae/config.json': Buffer.from('{}\n'),
};
const REPOS: Record<string, FakeRepo> = {
  'org/ldm': {
    refs: { main: MAIN, v1: OLD },
    commits: { [MAIN]: FILES, [OLD]: { 'model_index.json': Buffer.from('{"old":1}\n') } },
  },
  'org/gated': { access: 'gated', refs: { main: MAIN }, commits: { [MAIN]: { 'w.bin': bytes(5000, 3) } } },
  'org/xet': { xet: true, refs: { main: MAIN }, commits: { [MAIN]: { 'w.safetensors': bytes(40_000, 5) } } },
  'org/private': { access: 'private', refs: { main: MAIN }, commits: { [MAIN]: { 'w.bin': bytes(100, 4) } } },
};

let hub: FakeHub;
let scratch: string;

before(async () => {
  hub = await startFakeHub(REPOS);
  scratch = await mkdtemp(path.join(os.tmpdir(), 'flow-pull-'));
});
after(async () => {
  await hub.close();
  await rm(scratch, { recursive: true, force: true });
});

let stores = 0;
async function freshStore(): Promise<ModelStore> {
  const dir = path.join(scratch, `store-${stores++}`);
  await mkdir(dir);
  return new ModelStore(dir);
}

function client(token?: string): HubClient {
  return new HubClient({ endpoint: hub.endpoint, token });
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** The Range headers of the file-body requests since request number `from` (not the one-byte probes). */
function bodyRangesSince(from: number): (string | undefined)[] {
  return hub.requests
    .slice(from)
    .filter((q) => q.path.startsWith('/cdn/') && q.range !== 'bytes=0-0')
    .map((q) => q.range);
}

async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

test('a full pull resolves the revision, fetches every file verified, and a second pull fetches nothing', async () => {
  const store = await freshStore();
  const events: PullEvent[] = [];
  const r = await pull({
    ref: parseRepoRef('org/ldm'),
    store,
    client: client(),
    onEvent: (e) => events.push(e),
  });
  assert.equal(r.sha, MAIN);
  assert.equal(r.snapshot, store.snapshotDir('org/ldm', MAIN));
  assert.equal(r.fetched, 5);
  assert.deepEqual(await listTree(r.snapshot), Object.keys(FILES).sort());
  for (const [p, b] of Object.entries(FILES))
    assert.ok((await readFile(path.join(r.snapshot, p))).equals(b), p);
  assert.equal(await store.readRef('org/ldm', 'main'), MAIN);
  assert.deepEqual(
    await listTree(path.join(store.repoDir('org/ldm'), 'partial')),
    [],
    'no partial file left',
  );
  const resolved = events.find((e) => e.type === 'resolved');
  assert.deepEqual(resolved, {
    type: 'resolved',
    repo: 'org/ldm',
    revision: 'main',
    sha: MAIN,
    files: 5,
    bytes: Object.values(FILES).reduce((a, b) => a + b.length, 0),
    offline: false,
  });
  const bytesEvents = events.filter((e) => e.type === 'file-bytes');
  assert.ok(bytesEvents.length >= 5, 'progress is reported as bytes arrive');

  const before = hub.requests.length;
  const again = await pull({ ref: parseRepoRef('org/ldm@main'), store, client: client() });
  assert.equal(again.fetched, 0);
  const later = hub.requests.slice(before);
  assert.ok(
    later.every((q) => q.path.startsWith('/api/')),
    `only the revision and listing are asked again: ${later.map((q) => q.path).join(', ')}`,
  );
});

test('--include fetches only the matching files, and an include matching nothing is one line', async () => {
  const store = await freshStore();
  const r = await pull({ ref: parseRepoRef('org/ldm'), store, client: client(), include: ['unet/*'] });
  assert.deepEqual(await listTree(r.snapshot), [
    'unet/config.json',
    'unet/diffusion_pytorch_model.safetensors',
  ]);
  assert.deepEqual(
    r.files.map((f) => f.path),
    ['unet/config.json', 'unet/diffusion_pytorch_model.safetensors'],
  );
  const both = await pull({
    ref: parseRepoRef('org/ldm'),
    store,
    client: client(),
    include: ['**/config.json', '*.json'],
  });
  assert.equal(both.fetched, 2, 'unet/config.json was already there');
  await assert.rejects(
    pull({ ref: parseRepoRef('org/ldm'), store, client: client(), include: ['text_encoder/*'] }),
    /^Error: org\/ldm@main: no file matches --include text_encoder\/\* \(it has model_index\.json, /,
  );
});

test('a dropped connection leaves a partial file that the next pull resumes with a Range request', async () => {
  const store = await freshStore();
  const file = 'unet/diffusion_pytorch_model.safetensors';
  hub.faults.dropAfter.set(file, 70_000);
  await assert.rejects(
    pull({ ref: parseRepoRef('org/ldm'), store, client: client(), include: ['unet/*'], retries: 0 }),
    (e: Error) => {
      assert.match(
        e.message,
        /^org\/ldm: 'unet\/diffusion_pytorch_model\.safetensors' interrupted after 70000 of 300000 bytes; pull again to resume$/,
      );
      return true;
    },
  );
  const partial = store.partialFile('org/ldm', MAIN, file);
  assert.equal((await stat(partial)).size, 70_000);
  assert.equal(await exists(path.join(store.snapshotDir('org/ldm', MAIN), file)), false, 'not promoted');

  const before = hub.requests.length;
  const events: PullEvent[] = [];
  const r = await pull({
    ref: parseRepoRef('org/ldm'),
    store,
    client: client(),
    include: ['unet/*'],
    onEvent: (e) => events.push(e),
  });
  assert.equal(r.fetched, 1);
  assert.ok((await readFile(path.join(r.snapshot, file))).equals(FILES[file] as Buffer));
  assert.deepEqual(bodyRangesSince(before), ['bytes=70000-']);
  assert.deepEqual(
    events.find((e) => e.type === 'file-start'),
    { type: 'file-start', path: file, size: 300_000, resumeFrom: 70_000 },
  );
  assert.equal(await exists(partial), false);
});

test('within one pull a dropped connection is retried from where it stopped', async () => {
  const store = await freshStore();
  const file = 'vae/diffusion_pytorch_model.safetensors';
  hub.faults.dropAfter.set(file, 30_000);
  const before = hub.requests.length;
  const r = await pull({
    ref: parseRepoRef('org/ldm'),
    store,
    client: client(),
    include: ['vae/*.safetensors'],
  });
  assert.ok((await readFile(path.join(r.snapshot, file))).equals(FILES[file] as Buffer));
  assert.deepEqual(bodyRangesSince(before), [undefined, 'bytes=30000-']);
});

test('a wrong checksum is refused and nothing is promoted: sha256 for LFS files, the git blob id for small ones', async () => {
  const store = await freshStore();
  const lfs = 'vae/diffusion_pytorch_model.safetensors';
  hub.faults.corrupt.add(lfs);
  hub.faults.corrupt.add('vae/config.json');
  try {
    await assert.rejects(
      pull({ ref: parseRepoRef('org/ldm'), store, client: client(), include: [lfs] }),
      /^Error: org\/ldm@a{40}: 'vae\/diffusion_pytorch_model\.safetensors' failed its sha256 check \(hub [0-9a-f]{64}, got [0-9a-f]{64}\); the download was discarded$/,
    );
    await assert.rejects(
      pull({ ref: parseRepoRef('org/ldm'), store, client: client(), include: ['vae/config.json'] }),
      /failed its git blob sha1 check/,
    );
  } finally {
    hub.faults.corrupt.clear();
  }
  const snapshot = store.snapshotDir('org/ldm', MAIN);
  assert.equal(await exists(path.join(snapshot, lfs)), false);
  assert.equal(await exists(path.join(snapshot, 'vae/config.json')), false);
  assert.equal(await exists(store.partialFile('org/ldm', MAIN, lfs)), false, 'the bad bytes are not resumed');
  const r = await pull({ ref: parseRepoRef('org/ldm'), store, client: client(), include: ['vae/*'] });
  assert.equal(r.fetched, 2, 'a clean pull afterwards succeeds');
});

test('a file whose ETag disagrees with the listing is refused before a byte is written', async () => {
  const store = await freshStore();
  hub.faults.misreport.add('model_index.json');
  try {
    await assert.rejects(
      pull({ ref: parseRepoRef('org/ldm'), store, client: client(), include: ['model_index.json'] }),
      /^Error: org\/ldm: the hub's listing and its headers disagree about 'model_index\.json' \(size 8 vs 8, hash [0-9a-f]{40} vs [0-9a-f]{40}\); try again later$/,
    );
  } finally {
    hub.faults.misreport.clear();
  }
  assert.deepEqual(await listTree(store.repoDir('org/ldm')), [`meta/${MAIN}.json`]);
});

test('a missing revision, repo or malformed name is one line', async () => {
  const store = await freshStore();
  const fails = async (target: string, message: RegExp): Promise<void> => {
    await assert.rejects(pull({ ref: parseRepoRef(target), store, client: client() }), (e: Error) => {
      assert.match(e.message, message);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
  };
  await fails(
    'org/ldm@nope',
    /^org\/ldm: revision 'nope' not found on http:\/\/127\.0\.0\.1:\d+ \(a branch, tag or commit sha\)$/,
  );
  await fails(
    'org/none',
    /^org\/none: repository not found on http:\/\/127\.0\.0\.1:\d+ \(if it is private or gated, set HF_TOKEN/,
  );
  await fails('org/private', /^org\/private: repository not found on .*set HF_TOKEN/);
  assert.throws(() => parseRepoRef('ldm'), /^Error: 'ldm': expected ORG\/REPO\[@REVISION\]/);
  assert.throws(() => parseRepoRef('org/ldm@../x'), /is not a revision/);
  const old = await pull({ ref: parseRepoRef('org/ldm@v1'), store, client: client() });
  assert.equal(old.sha, OLD, 'a tag resolves to its own commit');
  assert.deepEqual(await listTree(old.snapshot), ['model_index.json']);
});

test('a gated repo: 401 without a token (one line), success with HF_TOKEN sent as a bearer token', async () => {
  const store = await freshStore();
  await assert.rejects(
    pull({ ref: parseRepoRef('org/gated'), store, client: client() }),
    /^Error: org\/gated is gated: accept its terms on the hub and set HF_TOKEN to an access token$/,
  );
  await assert.rejects(
    pull({ ref: parseRepoRef('org/gated'), store, client: client('hf_wrong') }),
    /^Error: org\/gated@main: the hub refused the token in HF_TOKEN \(401\)$/,
  );
  assert.throws(() => client('abc'), /HF_TOKEN must be a hub access token \(it starts with 'hf_'\)/);
  const before = hub.requests.length;
  const r = await pull({ ref: parseRepoRef('org/gated'), store, client: client(TOKEN) });
  assert.equal(r.fetched, 1);
  const resolves = hub.requests.slice(before).filter((q) => q.path.includes('/resolve/'));
  assert.ok(resolves.length > 0 && resolves.every((q) => q.authorization === `Bearer ${TOKEN}`));
  const priv = await pull({ ref: parseRepoRef('org/private'), store, client: client(TOKEN) });
  assert.equal(priv.fetched, 1);
});

test('offline: served from the store when complete, one line when the revision or a file is missing', async () => {
  const store = await freshStore();
  const online = await pull({ ref: parseRepoRef('org/ldm'), store, client: client(), include: ['unet/*'] });
  const before = hub.requests.length;
  const hit = await pull({ ref: parseRepoRef('org/ldm'), store, offline: true, include: ['unet/*'] });
  assert.equal(hit.snapshot, online.snapshot);
  assert.equal(hit.sha, MAIN);
  assert.deepEqual(
    hit.files.map((f) => f.path),
    online.files.map((f) => f.path),
  );
  const bySha = await pull({
    ref: parseRepoRef(`org/ldm@${MAIN}`),
    store,
    offline: true,
    include: ['unet/config.json'],
  });
  assert.equal(bySha.files.length, 1);
  assert.equal(hub.requests.length, before, 'offline makes no request');
  await assert.rejects(
    pull({ ref: parseRepoRef('org/ldm'), store, offline: true }),
    /^Error: offline: 3 of 5 files of org\/ldm@main are not in the store .* \(model_index\.json, vae\/diffusion_pytorch_model\.safetensors, vae\/config\.json\); pull them once online$/,
  );
  await assert.rejects(
    pull({ ref: parseRepoRef('org/ldm@v1'), store, offline: true }),
    /^Error: offline: org\/ldm@v1 is not in the store .*; pull it once online$/,
  );
  const record = path.join(store.repoDir('org/ldm'), 'meta', `${MAIN}.json`);
  const kept = await readFile(record);
  await writeFile(record, '{"repo": "org/ldm", "files": 3');
  await assert.rejects(
    pull({ ref: parseRepoRef('org/ldm'), store, offline: true }),
    /^Error: .*meta\/a{40}\.json: the store's record of this snapshot is damaged; delete it and pull again$/,
  );
  await writeFile(record, kept);
  await rm(path.join(online.snapshot, 'unet/config.json'));
  await assert.rejects(
    pull({ ref: parseRepoRef('org/ldm'), store, offline: true, include: ['unet/*'] }),
    /offline: 1 of 2 files/,
    'a file removed from the store by hand is missing, not assumed',
  );
});

test('a file flow did not write is never overwritten; one with the hub content is kept as it is', async () => {
  const store = await freshStore();
  const snapshot = store.snapshotDir('org/ldm', MAIN);
  await mkdir(path.join(snapshot, 'unet'), { recursive: true });
  const mine = path.join(snapshot, 'unet/config.json');
  await writeFile(mine, 'my own notes\n');
  await assert.rejects(
    pull({ ref: parseRepoRef('org/ldm'), store, client: client(), include: ['unet/config.json'] }),
    /unet\/config\.json exists and is not org\/ldm's 'unet\/config\.json' \(sha256 differs\); flow pull does not overwrite it: move it away$/,
  );
  assert.equal(await readFile(mine, 'utf8'), 'my own notes\n');
  await writeFile(mine, FILES['unet/config.json'] as Buffer);
  const r = await pull({
    ref: parseRepoRef('org/ldm'),
    store,
    client: client(),
    include: ['unet/config.json'],
  });
  assert.equal(r.fetched, 0, 'identical content is adopted without a download');
});

test("one downloader per file: the lock of a running pull is respected, a dead pull's lock is taken over", async () => {
  const store = await freshStore();
  const file = 'vae/diffusion_pytorch_model.safetensors';
  const lock = `${store.partialFile('org/ldm', MAIN, file)}.lock`;
  await mkdir(path.dirname(lock), { recursive: true });
  await writeFile(lock, String(process.pid));
  await assert.rejects(
    pull({ ref: parseRepoRef('org/ldm'), store, client: client(), include: [file] }),
    new RegExp(
      `^Error: org/ldm: 'vae/diffusion_pytorch_model\\.safetensors': another flow pull \\(pid ${process.pid}\\) is downloading it; wait for it to finish$`,
    ),
  );
  const gone = spawnSync(process.execPath, ['-e', '0']).pid;
  await writeFile(lock, String(gone));
  const r = await pull({ ref: parseRepoRef('org/ldm'), store, client: client(), include: [file] });
  assert.equal(r.fetched, 1);
  assert.equal(await exists(lock), false, 'the lock is released');
});

test('a xet-backed file is fetched as plain bytes through its resolve URL, verified by its LFS sha256', async () => {
  const store = await freshStore();
  const before = hub.requests.length;
  const r = await pull({ ref: parseRepoRef('org/xet'), store, client: client() });
  assert.equal(r.fetched, 1);
  const content = await readFile(path.join(r.snapshot, 'w.safetensors'));
  assert.ok(content.equals(REPOS['org/xet']?.commits[MAIN]?.['w.safetensors'] as Buffer));
  const paths = hub.requests.slice(before).map((q) => q.path);
  assert.ok(!paths.some((p) => p.startsWith('/xet/')), 'the xet protocol is not used');
  assert.deepEqual(bodyRangesSince(before), [undefined]);
});
