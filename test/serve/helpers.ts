/**
 * `flow serve` test setup: a pipelines folder with small real pipelines on the tiny LDM fixture
 * (a VIPaint chain and a DPS baseline, a few steps each), a server on 127.0.0.1 with a free port,
 * and a reader for a run's server-sent events.
 */
import path from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { createServer, type ServeOptions } from '../../src/serve/server.js';
import type { RunQueue, WireEvent } from '../../src/serve/run-queue.js';
import { REPO, tempDir } from '../engine/helpers.js';
import { withLikelihoodScale, writeTinyLdm } from '../models/tiny-models.js';

export interface TestServer {
  app: FastifyInstance;
  queue: RunQueue;
  base: string;
  outDir: string;
  pipelinesDir: string;
}

/** Pipelines on the tiny LDM; `iterations` sets how long the fit runs (the cancel tests need long). */
export async function writeTinyPipelines(): Promise<string> {
  const dir = await tempDir('flow-serve-');
  const ldm = await withLikelihoodScale(await writeTinyLdm(dir));
  const pipelinesDir = path.join(dir, 'pipelines');
  await mkdir(path.join(pipelinesDir, 'baselines'), { recursive: true });
  const head = (name: string) => `version: 1
name: ${name}
params: { seed: 1, mask: rotated, iterations: 3, samples: 2 }
nodes:
  images: { type: load, params: { path: ${path.join(REPO, 'assets/images/64/chelsea.png')}, size: 16 } }
  prior: { type: model, params: { path: ${ldm} } }
  measure: { type: measure.inpaint, inputs: { image: images.image }, params: { mask: '\${mask}' } }
`;
  const tail = (
    solver: string,
  ) => `  score: { type: metric, inputs: { image: ${solver}.image, reference: images.image, mask: measure.mask } }
  save:
    type: save
    inputs: { samples: ${solver}.image, truth: images.image, measurement: measure.measurement, mask: measure.mask }
`;
  await writeFile(
    path.join(pipelinesDir, 'tiny-vipaint.yaml'),
    head('tiny-vipaint') +
      `  fit:
    type: posterior-fit
    inputs: { model: prior.model, operator: measure.operator }
    params: { iterations: '\${iterations}', batch: 2 }
  draw: { type: ancestral-sample, inputs: { model: prior.model, posterior: fit.posterior }, params: { samples: '\${samples}' } }
  refine:
    type: dps-refine
    inputs: { model: prior.model, operator: measure.operator, latent: draw.latent, posterior: fit.posterior }
    params: { steps: 3 }
` +
      tail('refine'),
  );
  await writeFile(
    path.join(pipelinesDir, 'baselines', 'tiny-dps.yaml'),
    head('tiny-dps') +
      `  solver:
    type: baseline.dps
    inputs: { model: prior.model, operator: measure.operator }
    params: { steps: '\${iterations}', samples: '\${samples}' }
` +
      tail('solver'),
  );
  return pipelinesDir;
}

export async function startServer(
  pipelinesDir: string,
  opts: Partial<ServeOptions> = {},
): Promise<TestServer> {
  const outDir = path.join(await tempDir('flow-serve-out-'), 'runs');
  const { app, queue } = await createServer({ outDir, cache: false, pipelinesDir, previewEvery: 2, ...opts });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, queue, base: address, outDir, pipelinesDir };
}

/** Every event of a run until the server closes the stream (after the run's final status). */
export async function readEvents(
  base: string,
  id: string,
  onEvent?: (e: WireEvent) => void,
): Promise<WireEvent[]> {
  const res = await fetch(`${base}/api/runs/${id}/events`);
  if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
  const events: WireEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      if (!block.startsWith('data: ')) continue;
      const e = JSON.parse(block.slice(6)) as WireEvent;
      events.push(e);
      onEvent?.(e);
    }
  }
  return events;
}

export async function postJson(
  base: string,
  url: string,
  body: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}${url}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}
