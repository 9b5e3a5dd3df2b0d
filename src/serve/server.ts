/**
 * `flow serve`: a local web app over the engine. Fastify serves the page (web/, plain files), the
 * test images and the runs' output files (static, rooted: nothing outside those folders is
 * readable), and a small JSON API: pipelines and their params, uploads, runs (queued one at a
 * time, events as server-sent events, cancellable) and the past runs in the output folder.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import multipart from '@fastify/multipart';
import { loadPlan, type Plan } from '../graph/plan.js';
import { FlowError } from '../graph/errors.js';
import type { ParamOverride } from '../graph/params.js';
import type { StageCache } from '../runtime/cache.js';
import { describeNodes } from '../cli/nodes-command.js';
import { describePlan, listPipelines, listTestImages } from './catalog.js';
import { RunQueue, type WireEvent } from './run-queue.js';
import { listPastRuns } from './past-runs.js';
import { MAX_UPLOAD_BYTES, UPLOAD_ID, UploadError, storeUpload } from './uploads.js';
import { TOKEN_COOKIE, checkRequest } from './access.js';
import { ASSETS_DIR, PIPELINES_DIR, WEB_DIR, insideFolder } from './paths.js';

export interface ServeOptions {
  /** Where runs write their folders (and uploads go, in `.serve/uploads`). */
  outDir: string;
  cache: StageCache | false;
  /** Required by the caller for non-loopback addresses (access.ts `checkBinding`). */
  token?: string;
  /** Let pipelines opened in the page load their plugin modules. */
  allowPlugins?: boolean;
  /** Steps between previews in runs started from the page (default 5). */
  previewEvery?: number;
  pipelinesDir?: string;
  assetsDir?: string;
  webDir?: string;
}

interface RunBody {
  pipeline?: string;
  yaml?: { name: string; text: string };
  image?: { upload?: string; test?: string };
  mask?: { upload?: string; kind?: string };
  params?: Record<string, unknown>;
  nodeParams?: Record<string, unknown>;
}

const source = {
  type: 'object',
  additionalProperties: false,
  properties: { upload: { type: 'string' }, test: { type: 'string' }, kind: { type: 'string' } },
};
const runBodySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    pipeline: { type: 'string' },
    yaml: {
      type: 'object',
      required: ['name', 'text'],
      additionalProperties: false,
      properties: { name: { type: 'string', maxLength: 200 }, text: { type: 'string', maxLength: 200_000 } },
    },
    image: source,
    mask: source,
    params: { type: 'object' },
    nodeParams: { type: 'object' },
  },
};

export async function createServer(opts: ServeOptions): Promise<{ app: FastifyInstance; queue: RunQueue }> {
  const pipelinesDir = path.resolve(opts.pipelinesDir ?? PIPELINES_DIR);
  const assetsDir = path.resolve(opts.assetsDir ?? ASSETS_DIR);
  const outDir = path.resolve(opts.outDir);
  const uploadsDir = path.join(outDir, '.serve', 'uploads');
  await mkdir(uploadsDir, { recursive: true });
  const queue = new RunQueue({ outDir, cache: opts.cache, previewEvery: opts.previewEvery ?? 5 });
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });

  app.addHook('onRequest', async (req, reply) => {
    const query = req.query as Record<string, string | undefined>;
    const verdict = checkRequest(
      {
        hostHeader: req.headers.host,
        authorization: req.headers.authorization,
        cookie: req.headers.cookie,
        queryToken: query.token,
      },
      opts.token,
    );
    if (verdict === 'host') return reply.code(403).send({ error: 'requests must name a loopback host' });
    if (verdict === 'token') return reply.code(401).send({ error: 'access token required' });
    if (opts.token !== undefined && query.token !== undefined)
      void reply.header('set-cookie', `${TOKEN_COOKIE}=${opts.token}; HttpOnly; SameSite=Strict; Path=/`);
  });
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const tooLarge = err.code === 'FST_REQ_FILE_TOO_LARGE' || err.statusCode === 413;
    const status = tooLarge
      ? 413
      : err instanceof FlowError || err instanceof UploadError
        ? 400
        : (err.statusCode ?? 500);
    void reply
      .code(status)
      .send({ error: tooLarge ? `upload is larger than ${MAX_UPLOAD_BYTES} bytes` : err.message });
  });

  await app.register(multipart, { limits: { fileSize: MAX_UPLOAD_BYTES, files: 1, fields: 2 } });
  await app.register(fastifyStatic, { root: path.resolve(opts.webDir ?? WEB_DIR), prefix: '/' });
  await app.register(fastifyStatic, { root: assetsDir, prefix: '/assets/', decorateReply: false });
  await app.register(fastifyStatic, { root: outDir, prefix: '/files/', decorateReply: false });

  const shippedPipeline = async (rel: string): Promise<string> => {
    const known = (await listPipelines(pipelinesDir)).some((p) => p.file === rel);
    const file = insideFolder(pipelinesDir, rel);
    if (!known || !file) throw new FlowError(`no shipped pipeline '${rel}'`);
    return file;
  };
  /** The pipeline a request names: a shipped file, or an opened YAML placed in the pipelines folder. */
  const pipelineSource = async (
    b: Pick<RunBody, 'pipeline' | 'yaml'>,
  ): Promise<{ file: string; text?: string }> => {
    if (b.yaml) {
      const name = path.basename(b.yaml.name).replace(/[^\w.-]/g, '_') || 'opened.yaml';
      return { file: path.join(pipelinesDir, name), text: b.yaml.text };
    }
    if (b.pipeline) return { file: await shippedPipeline(b.pipeline) };
    throw new FlowError("name a 'pipeline' or give 'yaml'");
  };
  const loadFor = (src: { file: string; text?: string }, overrides: ParamOverride[] = []): Promise<Plan> =>
    loadPlan(src.file, { text: src.text, overrides, allowPlugins: opts.allowPlugins ?? false });

  const uploadPath = (id: string): string => {
    if (!UPLOAD_ID.test(id)) throw new FlowError(`no upload '${id}'`);
    return path.join(uploadsDir, id);
  };
  const testImagePath = async (rel: string): Promise<string> => {
    const file = insideFolder(assetsDir, rel);
    if (!file || !(await listTestImages(assetsDir)).includes(rel))
      throw new FlowError(`no test image '${rel}'`);
    return file;
  };

  app.get('/api/info', async () => ({
    allowPlugins: opts.allowPlugins ?? false,
    previewEvery: opts.previewEvery ?? 5,
  }));
  app.get('/api/pipelines', async () => listPipelines(pipelinesDir));
  app.get('/api/pipelines/describe', async (req) => {
    const { file } = req.query as { file?: string };
    return describePlan(await loadFor(await pipelineSource({ pipeline: file ?? '' })));
  });
  app.post('/api/pipelines/describe', { schema: { body: runBodySchema } }, async (req) =>
    describePlan(await loadFor(await pipelineSource(req.body as RunBody))),
  );
  app.get('/api/nodes', async (_req, reply) =>
    reply.type('application/json').send(await describeNodes(undefined, { plugin: [], json: true })),
  );
  app.get('/api/test-images', async () => listTestImages(assetsDir));
  app.post('/api/uploads', async (req, reply) => {
    const file = await req.file();
    if (!file) throw new UploadError('no file in the upload');
    const bytes = await file.toBuffer();
    if (file.file.truncated)
      return reply.code(413).send({ error: `upload is larger than ${MAX_UPLOAD_BYTES} bytes` });
    return storeUpload(uploadsDir, bytes);
  });
  app.get('/api/uploads/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    return reply.sendFile(path.basename(uploadPath(id)), uploadsDir);
  });

  app.post('/api/runs', { schema: { body: runBodySchema } }, async (req, reply) => {
    const body = req.body as RunBody;
    const src = await pipelineSource(body);
    const base = describePlan(await loadFor(src));
    const overrides: ParamOverride[] = [];
    const set = (target: string, value: unknown): void => {
      overrides.push({ target, value, text: `${target}=${JSON.stringify(value)}` });
    };
    for (const [k, v] of Object.entries(body.params ?? {})) set(k, v);
    for (const [k, v] of Object.entries(body.nodeParams ?? {})) set(k, v);
    const image = body.image?.upload
      ? uploadPath(body.image.upload)
      : body.image?.test
        ? await testImagePath(body.image.test)
        : undefined;
    if (image) for (const id of base.loads) set(`${id}.path`, image);
    if (body.mask && base.inpaints.length === 0)
      throw new FlowError(`pipeline '${base.name}' has no inpainting mask`);
    for (const id of base.inpaints) {
      if (body.mask?.upload) {
        set(`${id}.mask`, 'file');
        set(`${id}.maskPath`, uploadPath(body.mask.upload));
        // Drawn on the page's canvas at display size: resizing to the image is what was asked.
        set(`${id}.resizeMask`, true);
      } else if (body.mask?.kind) set(`${id}.mask`, body.mask.kind);
    }
    const record = queue.submit(await loadFor(src, overrides));
    return reply.code(202).send(record);
  });
  app.get('/api/runs', async () => queue.list());
  app.delete('/api/runs/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    if (!queue.cancel(id)) return reply.code(409).send({ error: `run '${id}' is not queued or running` });
    return { ok: true };
  });
  app.get('/api/runs/:id/events', (req, reply) => {
    const { id } = req.params as { id: string };
    if (!queue.get(id)) return reply.code(404).send({ error: `no run '${id}'` });
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    let ended = false;
    const send = (e: WireEvent): void => {
      if (ended) return;
      res.write(`data: ${JSON.stringify(e)}\n\n`);
      if (e.type === 'status' && ['done', 'failed', 'cancelled'].includes(e.status)) {
        ended = true;
        res.end();
      }
    };
    const unsubscribe = queue.subscribe(id, send);
    req.raw.on('close', () => unsubscribe?.());
    if (ended) unsubscribe?.();
  });
  app.get('/api/history', async () => listPastRuns(outDir));
  // Before the server stops: cancel the runs, which ends their event streams (open connections).
  app.addHook('preClose', async () => queue.close());
  return { app, queue };
}
