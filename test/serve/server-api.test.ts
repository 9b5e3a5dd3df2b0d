/**
 * The `flow serve` API on a real port on 127.0.0.1, with small real pipelines on the tiny LDM:
 * a run streams its events (per-node progress, loss, previews as PNGs, cached stages on a second
 * run) and writes its folder, which the history then lists; runs queue one at a time; a running
 * and a queued run can be cancelled; uploads are size- and type-checked; nothing outside the
 * server's folders is readable; plugins load only when allowed; a non-loopback address needs a token.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { access, readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { initBackend } from '../../src/runtime/backend.js';
import { StageCache } from '../../src/runtime/cache.js';
import { checkBinding } from '../../src/serve/access.js';
import { main } from '../../src/cli/main.js';
import type { RunRecord, WireEvent } from '../../src/serve/run-queue.js';
import { PLUGIN, REPO, tempDir } from '../engine/helpers.js';
import { postJson, readEvents, startServer, writeTinyPipelines, type TestServer } from './helpers.js';

await initBackend('wasm');
const pipelinesDir = await writeTinyPipelines();
const cacheDir = path.join(await tempDir(), 'cache');
const server = await startServer(pipelinesDir, { cache: new StageCache({ dir: cacheDir }) });
const servers: TestServer[] = [server];
after(async () => {
  for (const s of servers) await s.app.close();
});
const { base } = server;

const submit = async (body: unknown): Promise<RunRecord> => {
  const r = await postJson(base, '/api/runs', body);
  assert.equal(r.status, 202, JSON.stringify(r.json));
  return r.json as RunRecord;
};
const statuses = (events: WireEvent[]): string[] =>
  events.filter((e) => e.type === 'status').map((e) => (e as RunRecord).status);

test('serve: lists pipelines and test images, describes params with their node schemas', async () => {
  const list = (await (await fetch(`${base}/api/pipelines`)).json()) as { file: string }[];
  assert.deepEqual(
    list.map((p) => p.file),
    ['baselines/tiny-dps.yaml', 'tiny-vipaint.yaml'],
  );
  const d = (await (await fetch(`${base}/api/pipelines/describe?file=tiny-vipaint.yaml`)).json()) as {
    params: { key: string; value: unknown; schema?: { enum?: string[] } }[];
    nodes: { id: string; params: { key: string }[] }[];
    loads: string[];
    inpaints: string[];
  };
  assert.deepEqual(d.params.find((p) => p.key === 'mask')?.schema?.enum, [
    'small',
    'random',
    'rotated',
    'file',
  ]);
  assert.deepEqual(
    d.nodes.map((n) => n.id),
    ['fit', 'draw', 'refine'],
  );
  assert.ok(d.nodes[0]?.params.some((p) => p.key === 'fit.beta'));
  assert.deepEqual([d.loads, d.inpaints], [['images'], ['measure']]);
  const images = (await (await fetch(`${base}/api/test-images`)).json()) as string[];
  assert.ok(images.includes('fashion/test-0000.png') && images.includes('images/64/chelsea.png'));
  const png = await fetch(`${base}/assets/fashion/test-0000.png`);
  assert.equal(png.status, 200);
  const nodes = (await (await fetch(`${base}/api/nodes`)).json()) as { type: string }[];
  assert.ok(nodes.some((n) => n.type === 'posterior-fit'));
});

test('serve: a run streams progress, loss and previews, writes its folder; the second run is cached', async () => {
  // A drawn mask (white = observed) and a test image, as the page sends them.
  const maskPng = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#fff' } })
    .composite([
      { input: { create: { width: 32, height: 20, channels: 3, background: '#000' } }, left: 16, top: 22 },
    ])
    .png()
    .toBuffer();
  const form = new FormData();
  form.append('file', new Blob([maskPng], { type: 'image/png' }), 'mask.png');
  const up = (await (await fetch(`${base}/api/uploads`, { method: 'POST', body: form })).json()) as {
    id: string;
  };
  const body = {
    pipeline: 'tiny-vipaint.yaml',
    image: { test: 'fashion/test-0003.png' },
    mask: { upload: up.id },
    params: { iterations: 4 },
    nodeParams: { 'fit.beta': 0.5 },
  };
  const rec = await submit(body);
  const events = await readEvents(base, rec.id);
  assert.deepEqual(statuses(events), ['queued', 'running', 'done']);
  const losses = events.filter(
    (e) => e.type === 'progress' && e.node === 'fit' && e.values?.loss !== undefined,
  );
  assert.equal(losses.length, 4, 'one loss per fit iteration');
  const previews = events.filter((e): e is Extract<WireEvent, { type: 'preview' }> => e.type === 'preview');
  assert.deepEqual(
    [...new Set(previews.map((p) => p.node))].sort(),
    ['draw', 'fit', 'refine'],
    'previews from the fit, the hierarchy and the refinement',
  );
  for (const p of previews) {
    const img = await sharp(Buffer.from(p.png.replace(/^data:image\/png;base64,/, ''), 'base64')).metadata();
    assert.deepEqual([img.format, img.width, img.height], ['png', p.width, p.height]);
  }
  const done = events.at(-1) as Extract<WireEvent, { type: 'status' }>;
  assert.equal(done.summary?.nodeParams.fit?.beta, 0.5, 'node params from the page reach the node');
  assert.equal(done.summary?.nodeParams.measure?.mask, 'file');
  assert.equal(done.summary?.nodeParams.images?.path, path.join(REPO, 'assets/fashion/test-0003.png'));
  const score = done.summary?.metrics.score?.['test-0003'] as Record<string, number>;
  assert.ok(Number.isFinite(score.psnr_mean) && Number.isFinite(score.psnr_missing_mean));
  const grid = await fetch(`${base}/files/${done.folder}/test-0003/grid.png`);
  assert.equal(grid.status, 200);
  assert.equal((await sharp(Buffer.from(await grid.arrayBuffer())).metadata()).format, 'png');

  const history = (await (await fetch(`${base}/api/history`)).json()) as { folder: string }[];
  assert.ok(
    history.some((h) => h.folder === done.folder),
    'the run is listed from the output folder',
  );

  const again = await readEvents(base, (await submit(body)).id);
  const cached = again
    .filter((e) => e.type === 'node-done' && e.cached)
    .map((e) => (e as { node: string }).node);
  assert.ok(
    ['fit', 'draw', 'refine'].every((n) => cached.includes(n)),
    `cached stages reported: ${cached}`,
  );
});

test('serve: runs queue one at a time; a running run and a queued run can be cancelled', async () => {
  const long = await submit({ pipeline: 'baselines/tiny-dps.yaml', params: { iterations: 400 } });
  const queued = await submit({ pipeline: 'tiny-vipaint.yaml' });
  const third = await submit({ pipeline: 'baselines/tiny-dps.yaml', params: { iterations: 3, seed: 9 } });
  assert.equal(queued.status, 'queued');
  assert.equal(third.status, 'queued');
  const order: string[] = [];
  const watch = (id: string, name: string): Promise<WireEvent[]> =>
    readEvents(base, id, (e) => {
      if (e.type === 'status') order.push(`${name}:${e.status}`);
    });
  let cancelSent = false;
  const longEvents = readEvents(base, long.id, (e) => {
    if (e.type === 'status') order.push(`long:${e.status}`);
    if (e.type === 'progress' && e.node === 'solver' && !cancelSent) {
      cancelSent = true;
      void fetch(`${base}/api/runs/${long.id}`, { method: 'DELETE' });
    }
  });
  const cancelled = await fetch(`${base}/api/runs/${queued.id}`, { method: 'DELETE' });
  assert.equal(cancelled.status, 200);
  const [, queuedEvents, thirdEvents] = await Promise.all([
    longEvents,
    watch(queued.id, 'queued'),
    watch(third.id, 'third'),
  ]);
  assert.ok(
    order.indexOf('long:cancelled') < order.indexOf('third:running'),
    `one run at a time, in order: ${order.join(' ')}`,
  );
  const longStatus = statuses(await longEvents);
  assert.equal(longStatus.at(-1), 'cancelled');
  assert.ok(
    (await longEvents).filter((e) => e.type === 'progress').length < 400,
    'the cancelled run stopped early',
  );
  assert.deepEqual(
    statuses(queuedEvents),
    ['queued', 'cancelled'],
    'a queued run is cancelled before it starts',
  );
  assert.deepEqual(statuses(thirdEvents), ['queued', 'running', 'done']);
  const runs = (await (await fetch(`${base}/api/runs`)).json()) as RunRecord[];
  const longRecord = runs.find((r) => r.id === long.id) as RunRecord;
  await assert.rejects(
    access(path.join(server.outDir, longRecord.folder as string)),
    'no folder for a cancelled run',
  );
  assert.equal((await fetch(`${base}/api/runs/${long.id}`, { method: 'DELETE' })).status, 409);
  // Runs start in submission order and never overlap.
  const starts = runs.filter((r) => r.folder).map((r) => r.id);
  assert.deepEqual(starts.slice(-2), [long.id, third.id]);
});

test('serve: closing the server cancels its runs and ends their event streams', async () => {
  const own = await startServer(pipelinesDir);
  const r = await postJson(own.base, '/api/runs', {
    pipeline: 'baselines/tiny-dps.yaml',
    params: { iterations: 500 },
  });
  const id = (r.json as RunRecord).id;
  let closing: Promise<void> | undefined;
  const events = await readEvents(own.base, id, (e) => {
    if (e.type === 'progress' && !closing) closing = own.app.close();
  });
  await closing;
  assert.equal(statuses(events).at(-1), 'cancelled');
});

test('serve: uploads are size- and type-checked', async () => {
  const upload = async (bytes: Uint8Array, name = 'x.png'): Promise<{ status: number; error?: string }> => {
    const form = new FormData();
    form.append('file', new Blob([bytes]), name);
    const res = await fetch(`${base}/api/uploads`, { method: 'POST', body: form });
    return { status: res.status, ...((await res.json()) as { error?: string }) };
  };
  const real = await readFile(path.join(REPO, 'assets/fashion/test-0000.png'));
  const ok = await upload(real);
  assert.equal(ok.status, 200);
  assert.equal((await upload(Buffer.from('hello, not an image'))).status, 400);
  const truncated = await upload(real.subarray(0, 60));
  assert.equal(truncated.status, 400);
  assert.match(truncated.error ?? '', /could not be decoded/);
  const big = Buffer.alloc(9 * 1024 * 1024, 1);
  real.copy(big);
  const tooBig = await upload(big);
  assert.equal(tooBig.status, 413);
  assert.match(tooBig.error ?? '', /larger than/);
});

test('serve: nothing outside its folders is readable', async () => {
  const raw = async (p: string): Promise<number> => {
    // fetch would normalise '..' away: send the path as written.
    const { request } = await import('node:http');
    const url = new URL(base);
    return new Promise((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: p, method: 'GET' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
  };
  for (const p of [
    '/../package.json',
    '/files/../package.json',
    '/files/..%2f..%2fpackage.json',
    '/files/%2e%2e/%2e%2e/package.json',
    '/assets/../package.json',
    '/assets/%2e%2e/package.json',
    '/files/.serve/uploads/x',
    '/api/uploads/..%2f..%2fpackage.json',
    '/api/pipelines/describe?file=../package.json',
    '/api/pipelines/describe?file=%2Fetc%2Fpasswd',
  ]) {
    const status = await raw(p);
    assert.ok(status >= 400 && status < 500, `${p}: ${status}`);
  }
  const bad = await postJson(base, '/api/runs', {
    pipeline: 'tiny-vipaint.yaml',
    image: { test: '../package.json' },
  });
  assert.equal(bad.status, 400);
  const abs = await postJson(base, '/api/runs', {
    pipeline: 'tiny-vipaint.yaml',
    image: { upload: '/etc/passwd' },
  });
  assert.equal(abs.status, 400);
});

test('serve: an opened YAML loads no plugin code unless allowed; bad params are one-line errors', async () => {
  const text = `version: 1\nname: with-plugin\nplugins: [${PLUGIN}]\nnodes:\n  a: { type: test.count, params: { n: 1 } }\n`;
  const refused = await postJson(base, '/api/pipelines/describe', { yaml: { name: 'mine.yaml', text } });
  assert.equal(refused.status, 400);
  assert.match((refused.json as { error: string }).error, /run code on this machine.*--allow-plugins/);
  const open = await startServer(pipelinesDir, { allowPlugins: true });
  servers.push(open);
  const allowed = await postJson(open.base, '/api/pipelines/describe', { yaml: { name: 'mine.yaml', text } });
  assert.equal(allowed.status, 200, JSON.stringify(allowed.json));
  const badParam = await postJson(base, '/api/runs', {
    pipeline: 'tiny-vipaint.yaml',
    nodeParams: { 'fit.beta': 'x' },
  });
  assert.equal(badParam.status, 400);
  assert.match((badParam.json as { error: string }).error, /beta/);
});

test('serve: a non-loopback address needs a token; a token server refuses requests without it', async () => {
  assert.throws(
    () => checkBinding('0.0.0.0', undefined),
    /refusing to serve on 0.0.0.0 without an access token/,
  );
  assert.throws(() => checkBinding('192.168.1.5', 'short'), /at least 16 characters/);
  checkBinding('0.0.0.0', 'a-long-enough-token-123');
  checkBinding('127.0.0.1', undefined);
  assert.equal(await main(['serve', '--host', '0.0.0.0', '--port', '0']), 1, 'the CLI refuses to start');
  const token = 'a-long-enough-token-123';
  const guarded = await startServer(pipelinesDir, { token });
  servers.push(guarded);
  assert.equal((await fetch(`${guarded.base}/api/pipelines`)).status, 401);
  assert.equal((await fetch(`${guarded.base}/api/pipelines?token=wrong-token-wrong-token`)).status, 401);
  const first = await fetch(`${guarded.base}/?token=${token}`);
  assert.equal(first.status, 200);
  const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0] as string;
  assert.equal((await fetch(`${guarded.base}/api/pipelines`, { headers: { cookie } })).status, 200);
  assert.equal(
    (await fetch(`${guarded.base}/api/pipelines`, { headers: { authorization: `Bearer ${token}` } })).status,
    200,
  );
  // Without a token, a request naming another host (DNS rebinding) is refused.
  const { request } = await import('node:http');
  const url = new URL(base);
  const status = await new Promise<number>((resolve) => {
    request(
      { host: url.hostname, port: url.port, path: '/api/pipelines', headers: { host: 'evil.example:80' } },
      (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      },
    ).end();
  });
  assert.equal(status, 403);
});
