/**
 * Rendering run events: live progress bars on a terminal, JSON lines with `--log json`, and a
 * quiet line-per-node summary otherwise (CI logs).
 */
import type { FlowEvent, RunSummary } from '../runtime/events.js';

export type LogMode = 'pretty' | 'json' | 'plain';

interface NodeState {
  done: number;
  hits: number;
  total?: number;
  step?: number;
  steps?: number;
  values?: Record<string, number>;
  item?: string;
}

function bar(frac: number, width = 20): string {
  const n = Math.max(0, Math.min(width, Math.round(frac * width)));
  return '█'.repeat(n) + '░'.repeat(width - n);
}

function fmtValues(v: Record<string, number> | undefined): string {
  if (!v) return '';
  return Object.entries(v)
    .map(
      ([k, x]) =>
        `${k}=${Math.abs(x) >= 1000 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : x.toFixed(4)}`,
    )
    .join(' ');
}

export class ProgressRenderer {
  private readonly nodes = new Map<string, NodeState>();
  private order: string[] = [];
  private itemTotals = new Map<string, number>();
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;

  constructor(
    private readonly mode: LogMode,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {}

  handle(e: FlowEvent): void {
    if (this.mode === 'json') {
      // A preview's pixels go out as base64 (JSON would spell a Uint8Array as an object).
      const line = e.type === 'preview' ? { ...e, pixels: Buffer.from(e.pixels).toString('base64') } : e;
      process.stdout.write(JSON.stringify({ time: new Date().toISOString(), ...line }) + '\n');
      return;
    }
    switch (e.type) {
      case 'run-start':
        this.order = e.nodes;
        for (const id of e.nodes) this.nodes.set(id, { done: 0, hits: 0 });
        if (this.mode === 'pretty') this.timer = setInterval(() => this.redraw(), 100);
        break;
      case 'items':
        this.itemTotals.set(e.node, e.count);
        break;
      case 'progress': {
        const s = this.nodes.get(e.node);
        if (s) Object.assign(s, { step: e.step, steps: e.total, values: e.values ?? s.values, item: e.item });
        break;
      }
      case 'node-done': {
        const s = this.nodes.get(e.node);
        if (s) {
          s.done++;
          if (e.cached) s.hits++;
          s.step = undefined;
        }
        break;
      }
      case 'warning':
        this.clear();
        this.out.write(`warning: ${e.message}\n`);
        break;
      case 'run-done':
        if (this.timer) clearInterval(this.timer);
        this.redraw();
        break;
      default:
        break;
    }
    this.dirty = true;
  }

  private clear(): void {
    if (this.mode !== 'pretty' || this.drawn === 0) return;
    this.out.write(`\x1b[${this.drawn}A\x1b[0J`);
    this.drawn = 0;
  }

  private redraw(): void {
    if (this.mode !== 'pretty' || !this.dirty) return;
    this.dirty = false;
    const width = Math.max(...this.order.map((id) => id.length), 4);
    const lines = this.order.map((id) => {
      const s = this.nodes.get(id) as NodeState;
      const total = Math.max(...[...this.itemTotals.values(), 1]);
      const within =
        s.step !== undefined && s.steps ? ` step ${s.step}/${s.steps} ${fmtValues(s.values)}` : '';
      const hits = s.hits ? ` (${s.hits} cached)` : '';
      return `${id.padEnd(width)} ${bar(Math.min(1, s.done / total))} ${s.done}${hits}${within}`;
    });
    this.clear();
    this.out.write(lines.join('\n') + '\n');
    this.drawn = lines.length;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** The end-of-run table: per node executions, cache hits and time. */
export function formatSummary(s: RunSummary, outDir?: string): string {
  const rows = Object.entries(s.nodes).map(([id, n]) => [
    id,
    n.type,
    String(n.executions),
    String(n.cacheHits),
    `${n.ms} ms`,
    n.calls.forward || n.calls.gradient ? `${n.calls.forward}/${n.calls.gradient}` : '',
  ]);
  const head = ['node', 'type', 'runs', 'cached', 'time', 'net calls f/g'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const fmt = (r: string[]): string =>
    r
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  const lines = [fmt(head), ...rows.map(fmt)];
  lines.push(
    `cache: ${s.cache.enabled ? `${s.cache.hits} hits, ${s.cache.misses} misses${s.cache.corrupt ? `, ${s.cache.corrupt} corrupt entries recomputed` : ''}` : 'off'}; backend ${s.backend.name}; ${(s.ms / 1000).toFixed(2)} s`,
  );
  if (outDir) lines.push(`outputs: ${outDir} (${s.files.length} files)`);
  return lines.join('\n') + '\n';
}
