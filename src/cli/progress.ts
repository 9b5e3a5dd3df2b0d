/**
 * Rendering run events: live progress bars on a terminal (elapsed, rate, ETA, the item and the
 * node's own message), JSON lines with `--log json`, and for pipes (`plain`) timestamped lines:
 * node logs, a node's progress every few seconds, and each node's completion.
 */
import type { FlowEvent, RunSummary } from '../runtime/events.js';
import { formatTable } from './table.js';
import { formatMetricSummary } from './metric-table.js';
import { RunProgress, formatDuration, type NodeProgress } from './progress-state.js';

export type LogMode = 'pretty' | 'json' | 'plain';

/** Where text goes: process.stderr, or any stream-like sink (tests use a fake terminal). */
export interface TextSink {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface RendererOptions {
  /** JSON lines go here (default stdout), keeping stderr for humans. */
  jsonOut?: TextSink;
  /** Clock in ms (tests pass a fake one). */
  now?: () => number;
  /** Pretty mode: redraw period in ms; 0 redraws only on `flush()`. */
  redrawMs?: number;
  /** Plain mode: at most one progress line per node this often (ms). */
  plainEveryMs?: number;
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

/** Rate and ETA of one node: "0.52 steps/s ETA 12.0s". */
function pace(s: NodeProgress, now: number): string {
  const r = RunProgress.rate(s, now);
  const eta = RunProgress.eta(s, now);
  return [
    r ? `${r.value.toPrecision(3)} ${r.unit}` : '',
    eta !== undefined && s.ended === undefined ? `ETA ${formatDuration(eta)}` : '',
  ]
    .filter(Boolean)
    .join(' ');
}

/** What the node is doing now: "[chelsea] step 17/50 samples 17-32 of 40 loss=0.1234". */
function activity(s: NodeProgress): string {
  if (s.running.size === 0 || s.ended !== undefined) return '';
  const parts = [s.item !== undefined ? `[${s.item}]` : ''];
  if (s.step !== undefined && s.steps) parts.push(`step ${s.step}/${s.steps}`);
  if (s.message) parts.push(s.message);
  if (s.step !== undefined) parts.push(fmtValues(s.values));
  return parts.filter(Boolean).join(' ');
}

export class ProgressRenderer {
  readonly state = new RunProgress();
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;
  private readonly now: () => number;
  private readonly lastPlain = new Map<string, number>();
  private readonly reported = new Set<string>();

  constructor(
    private readonly mode: LogMode,
    private readonly out: TextSink = process.stderr,
    private readonly options: RendererOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  handle(e: FlowEvent): void {
    if (this.mode === 'json') {
      // A preview's pixels go out as base64 (JSON would spell a Uint8Array as an object).
      const line = e.type === 'preview' ? { ...e, pixels: Buffer.from(e.pixels).toString('base64') } : e;
      (this.options.jsonOut ?? process.stdout).write(
        JSON.stringify({ time: new Date(this.now()).toISOString(), ...line }) + '\n',
      );
      return;
    }
    const now = this.now();
    this.state.update(e, now);
    switch (e.type) {
      case 'run-start': {
        const every = this.options.redrawMs ?? 200;
        // Redrawn on a timer, not per event: the clocks move between events too.
        if (this.mode === 'pretty' && every > 0)
          this.timer = setInterval(() => {
            this.dirty = true;
            this.flush();
          }, every);
        break;
      }
      case 'log':
        this.above(`${e.node}${e.item !== undefined ? ` [${e.item}]` : ''}: ${e.message}`);
        break;
      case 'warning':
        this.above(`warning: ${e.message}`, false);
        break;
      case 'progress':
        if (this.mode === 'plain') this.plainProgress(e.node, now);
        break;
      case 'node-done':
        if (this.mode === 'plain') this.plainDone(e.node, now);
        break;
      case 'run-done':
        this.stop();
        this.flush();
        break;
      default:
        break;
    }
    this.dirty = true;
  }

  /** A line that stays (logs, warnings): above the bars on a terminal, stamped on a pipe. */
  private above(text: string, stamped = true): void {
    this.clear();
    const stamp = stamped && this.mode === 'plain' ? `${this.stamp()} ` : '';
    this.out.write(`${stamp}${text}\n`);
    this.dirty = true;
  }

  private stamp(): string {
    return `[${formatDuration(this.now() - (this.state.started ?? this.now())).padStart(7)}]`;
  }

  private plainProgress(id: string, now: number): void {
    const every = this.options.plainEveryMs ?? 10_000;
    const last = this.lastPlain.get(id);
    if (last !== undefined && now - last < every) return;
    this.lastPlain.set(id, now);
    const s = this.state.nodes.get(id);
    if (s)
      this.out.write(`${this.stamp()} ${id} ${[activity(s), pace(s, now)].filter(Boolean).join('  ')}\n`);
  }

  private plainDone(id: string, now: number): void {
    const s = this.state.nodes.get(id);
    if (!s || s.ended === undefined || this.reported.has(id)) return;
    this.reported.add(id);
    const r = RunProgress.rate(s, now);
    const extra = [r ? `${r.value.toPrecision(3)} ${r.unit}` : '', s.hits ? `${s.hits} cached` : '']
      .filter(Boolean)
      .join(', ');
    this.out.write(
      `${this.stamp()} ${id}: ${s.done}/${s.total} done in ${formatDuration(RunProgress.elapsed(s, now))}${extra ? ` (${extra})` : ''}\n`,
    );
  }

  /** The pretty-mode block: one header line, then one line per node. */
  render(): string[] {
    const now = this.now();
    const st = this.state;
    const width = Math.max(...st.order.map((id) => id.length), 4);
    const eta = st.eta(now);
    const header = `elapsed ${formatDuration(now - (st.started ?? now))}${eta !== undefined ? `  ETA ${formatDuration(eta)}` : ''}`;
    const lines = st.order.map((id) => {
      const s = st.nodes.get(id) as NodeProgress;
      const total = s.total ?? 0;
      const frac = total > 0 ? RunProgress.completed(s) / total : 0;
      const count = `${s.done}/${s.total ?? '?'}${s.hits ? ` (${s.hits} cached)` : ''}`;
      const time = s.started !== undefined ? formatDuration(RunProgress.elapsed(s, now)) : '';
      return [`${id.padEnd(width)} ${bar(frac)} ${count}`, time, pace(s, now), activity(s)]
        .filter(Boolean)
        .join('  ');
    });
    // Wrapped lines would break the cursor arithmetic of the redraw: cut them to the terminal.
    const cols = this.out.columns;
    return [header, ...lines].map((l) => (cols && l.length >= cols ? l.slice(0, cols - 1) : l));
  }

  private clear(): void {
    if (this.mode !== 'pretty' || this.drawn === 0) return;
    this.out.write(`\x1b[${this.drawn}A\x1b[0J`);
    this.drawn = 0;
  }

  /** Pretty mode: redraw the block if anything changed. */
  flush(): void {
    if (this.mode !== 'pretty' || !this.dirty) return;
    this.dirty = false;
    const lines = this.render();
    this.clear();
    this.out.write(lines.join('\n') + '\n');
    this.drawn = lines.length;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
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
  const lines = formatTable(['node', 'type', 'runs', 'cached', 'time', 'net calls f/g'], rows);
  lines.push(
    `cache: ${s.cache.enabled ? `${s.cache.hits} hits, ${s.cache.misses} misses${s.cache.corrupt ? `, ${s.cache.corrupt} corrupt entries recomputed` : ''}` : 'off'}; backend ${s.backend.name}; ${(s.ms / 1000).toFixed(2)} s`,
  );
  if (outDir) lines.push(`outputs: ${outDir} (${s.files.length} files)`);
  const metrics = formatMetricSummary(s.metricSummary ?? {});
  if (metrics.length > 0) lines.push('', 'metrics over items:', ...metrics);
  return lines.join('\n') + '\n';
}
