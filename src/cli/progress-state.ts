/**
 * Progress bookkeeping per node from run events: items done of items expected, steps within the
 * items in flight, elapsed time, rate and a remaining-time estimate. Pure (the clock is passed
 * in), so the terminal renderer and tests share it.
 */
import type { FlowEvent } from '../runtime/events.js';

export interface NodeProgress {
  /** Executions expected: the item count of the node's sources, 1 for run-wide nodes; unknown until counted. */
  total?: number;
  done: number;
  hits: number;
  started?: number;
  ended?: number;
  /** Items started and not yet done, with their latest step (0 of 0 before the first report). */
  running: Map<string, { step: number; steps: number }>;
  /** The latest item, step, message and values the node reported. */
  item?: string;
  step?: number;
  steps?: number;
  message?: string;
  values?: Record<string, number>;
  /** Steps completed over all items so far (for a rate in steps per second). */
  stepsDone: number;
}

export class RunProgress {
  readonly nodes = new Map<string, NodeProgress>();
  order: string[] = [];
  started?: number;
  private sources?: Record<string, string[]>;
  private readonly itemTotals = new Map<string, number>();

  /** Update from one event; `now` in milliseconds. */
  update(e: FlowEvent, now: number): void {
    switch (e.type) {
      case 'run-start':
        this.started = now;
        this.order = e.nodes;
        this.sources = e.sources;
        for (const id of e.nodes) this.nodes.set(id, { done: 0, hits: 0, running: new Map(), stepsDone: 0 });
        this.updateTotals();
        break;
      case 'items':
        this.itemTotals.set(e.node, e.count);
        this.updateTotals();
        break;
      case 'node-start': {
        const s = this.nodes.get(e.node);
        if (!s) break;
        s.started ??= now;
        s.running.set(e.item ?? '', { step: 0, steps: 0 });
        if (e.item !== undefined) s.item = e.item;
        break;
      }
      case 'progress': {
        const s = this.nodes.get(e.node);
        if (!s) break;
        const key = e.item ?? '';
        const before = s.running.get(key)?.step ?? 0;
        if (e.step > before) s.stepsDone += e.step - before;
        s.running.set(key, { step: e.step, steps: e.total });
        Object.assign(s, { item: e.item ?? s.item, step: e.step, steps: e.total, message: e.message });
        if (e.values) s.values = e.values;
        break;
      }
      case 'node-done': {
        const s = this.nodes.get(e.node);
        if (!s) break;
        s.done++;
        if (e.cached) s.hits++;
        s.running.delete(e.item ?? '');
        if (s.running.size === 0) s.step = s.steps = s.message = undefined;
        if (s.total !== undefined && s.done >= s.total) s.ended = now;
        break;
      }
      default:
        break;
    }
  }

  private updateTotals(): void {
    const counts = [...this.itemTotals.values()];
    for (const [id, s] of this.nodes) {
      const sources = this.sources?.[id];
      if (sources === undefined) {
        // Events without the source map (older producers): assume every node sees every item.
        s.total = counts.length > 0 ? Math.max(...counts) : undefined;
      } else if (sources.length === 0) s.total = 1;
      else {
        const known = sources.map((x) => this.itemTotals.get(x));
        s.total = known.every((c) => c !== undefined) ? Math.max(...(known as number[])) : undefined;
      }
    }
  }

  /** Executions completed, counting the finished fraction of the items in flight. */
  static completed(s: NodeProgress): number {
    let partial = 0;
    for (const r of s.running.values()) if (r.steps > 0) partial += Math.min(1, r.step / r.steps);
    return s.done + partial;
  }

  static elapsed(s: NodeProgress, now: number): number {
    return s.started === undefined ? 0 : (s.ended ?? now) - s.started;
  }

  /** Milliseconds left at the node's pace so far; undefined when there is nothing to go on. */
  static eta(s: NodeProgress, now: number): number | undefined {
    if (s.total === undefined || s.started === undefined) return undefined;
    if (s.ended !== undefined) return 0;
    const f = RunProgress.completed(s);
    if (f <= 0) return undefined;
    return (RunProgress.elapsed(s, now) * Math.max(0, s.total - f)) / f;
  }

  /** Per second: steps when the node reports steps, else executions. */
  static rate(s: NodeProgress, now: number): { value: number; unit: 'steps/s' | 'items/s' } | undefined {
    const seconds = RunProgress.elapsed(s, now) / 1000;
    if (seconds <= 0) return undefined;
    if (s.stepsDone > 0) return { value: s.stepsDone / seconds, unit: 'steps/s' };
    return s.done > 0 ? { value: s.done / seconds, unit: 'items/s' } : undefined;
  }

  /** The run's remaining time: the slowest unfinished node that has an estimate. */
  eta(now: number): number | undefined {
    let worst: number | undefined;
    for (const s of this.nodes.values()) {
      if (s.ended !== undefined) continue;
      const e = RunProgress.eta(s, now);
      if (e !== undefined) worst = Math.max(worst ?? 0, e);
    }
    return worst;
  }
}

/** 8.3s, 4m05s, 1h02m. */
export function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
