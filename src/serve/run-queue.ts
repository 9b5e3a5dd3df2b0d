/**
 * The server's runs: submitted runs wait in a queue and execute one at a time (a solver uses
 * every core). Each run's events are kept for the page to replay when it connects late, with
 * previews turned into PNG data URLs on the way; a run can be cancelled while queued or running.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import sharp from 'sharp';
import type { Plan } from '../graph/plan.js';
import { AbortedError } from '../graph/errors.js';
import { runPlan } from '../runtime/execute.js';
import type { StageCache } from '../runtime/cache.js';
import type { FlowEvent, RunSummary } from '../runtime/events.js';

export type RunStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface RunRecord {
  id: string;
  pipeline: string;
  status: RunStatus;
  created: string;
  /** The run's folder under the output folder (set when it starts). */
  folder?: string;
  error?: string;
}

/** What the page receives: run events (a preview's pixels as a PNG data URL) and status changes. */
export type WireEvent =
  | Exclude<FlowEvent, { type: 'preview' }>
  | (Omit<Extract<FlowEvent, { type: 'preview' }>, 'pixels'> & { png: string })
  | ({ type: 'status'; summary?: RunSummary } & RunRecord);

interface QueuedRun {
  record: RunRecord;
  plan: Plan;
  events: WireEvent[];
  /** The latest preview per node and item (older ones are not replayed). */
  previews: Map<string, WireEvent>;
  listeners: Set<(e: WireEvent) => void>;
  controller: AbortController;
  /** Keeps events in order while previews are being encoded. */
  chain: Promise<void>;
}

export interface RunQueueOptions {
  outDir: string;
  cache: StageCache | false;
  previewEvery?: number;
}

export class RunQueue {
  private readonly runs = new Map<string, QueuedRun>();
  private readonly waiting: QueuedRun[] = [];
  private current: QueuedRun | undefined;
  private idle: Promise<void> = Promise.resolve();

  constructor(private readonly opts: RunQueueOptions) {}

  submit(plan: Plan): RunRecord {
    const id = randomBytes(4).toString('hex');
    const run: QueuedRun = {
      record: { id, pipeline: plan.name, status: 'queued', created: new Date().toISOString() },
      plan,
      events: [],
      previews: new Map(),
      listeners: new Set(),
      controller: new AbortController(),
      chain: Promise.resolve(),
    };
    this.runs.set(id, run);
    this.waiting.push(run);
    this.status(run);
    if (!this.current) this.idle = this.pump();
    return { ...run.record };
  }

  list(): RunRecord[] {
    return [...this.runs.values()].map((r) => ({ ...r.record }));
  }

  get(id: string): RunRecord | undefined {
    const r = this.runs.get(id);
    return r && { ...r.record };
  }

  /** False when there is no such run or it has already ended. */
  cancel(id: string): boolean {
    const run = this.runs.get(id);
    if (!run || !['queued', 'running'].includes(run.record.status)) return false;
    if (run.record.status === 'queued') {
      this.waiting.splice(this.waiting.indexOf(run), 1);
      run.record.status = 'cancelled';
      this.status(run);
    } else run.controller.abort();
    return true;
  }

  /** Replays the run's events so far, then streams new ones; returns the unsubscribe function. */
  subscribe(id: string, listener: (e: WireEvent) => void): (() => void) | undefined {
    const run = this.runs.get(id);
    if (!run) return undefined;
    // Previews first: a finished run's replay ends with its final status.
    for (const e of run.previews.values()) listener(e);
    for (const e of run.events) listener(e);
    run.listeners.add(listener);
    return () => run.listeners.delete(listener);
  }

  /** Resolves when the queue has run dry (for shutdown and tests). */
  async drained(): Promise<void> {
    while (this.current || this.waiting.length) await this.idle;
  }

  /** Cancel everything (server shutdown). */
  async close(): Promise<void> {
    for (const r of [...this.waiting]) this.cancel(r.record.id);
    if (this.current) this.cancel(this.current.record.id);
    await this.drained();
  }

  private async pump(): Promise<void> {
    for (let run = this.waiting.shift(); run; run = this.waiting.shift()) {
      this.current = run;
      await this.execute(run);
      this.current = undefined;
    }
  }

  private async execute(run: QueuedRun): Promise<void> {
    const stamp = run.record.created.replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    run.record.folder = `${stamp}-${run.plan.name}-${run.record.id}`;
    run.record.status = 'running';
    this.status(run);
    let summary: RunSummary | undefined;
    try {
      const handle = runPlan(run.plan, {
        outDir: path.join(this.opts.outDir, run.record.folder),
        cache: this.opts.cache,
        previewEvery: this.opts.previewEvery,
        signal: run.controller.signal,
      });
      handle.events$.subscribe((e) => this.publish(run, e));
      summary = (await handle.result).summary;
      run.record.status = 'done';
    } catch (e) {
      run.record.status = e instanceof AbortedError ? 'cancelled' : 'failed';
      if (!(e instanceof AbortedError)) run.record.error = e instanceof Error ? e.message : String(e);
    }
    this.status(run, summary);
    await run.chain;
  }

  private status(run: QueuedRun, summary?: RunSummary): void {
    this.publish(run, { type: 'status', ...run.record, ...(summary ? { summary } : {}) });
  }

  private publish(run: QueuedRun, e: FlowEvent | WireEvent): void {
    run.chain = run.chain.then(async () => {
      let wire: WireEvent;
      try {
        wire = e.type === 'preview' && 'pixels' in e ? await previewToWire(e) : (e as WireEvent);
      } catch {
        return; // a preview that cannot be encoded is dropped; the run goes on
      }
      if (wire.type === 'preview') run.previews.set(`${wire.node}\0${wire.item ?? ''}`, wire);
      else run.events.push(wire);
      for (const l of run.listeners) l(wire);
    });
  }
}

async function previewToWire(e: Extract<FlowEvent, { type: 'preview' }>): Promise<WireEvent> {
  const { pixels, ...rest } = e;
  const png = await sharp(Buffer.from(pixels), {
    raw: { width: e.width, height: e.height, channels: e.channels as 1 | 3 },
  })
    .png()
    .toBuffer();
  return { ...rest, png: `data:image/png;base64,${png.toString('base64')}` };
}
