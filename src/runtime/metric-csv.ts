/**
 * The metrics of a run as CSV beside run.json: `metrics.csv` has one row per node and item with
 * one column per metric name; `metrics-summary.csv` one row per node and metric (over items).
 */
import type { MetricSummaries, RunSummary } from './events.js';

/** RFC 4180 cell: quoted when it holds a comma, quote or line break. */
function cell(v: number | number[] | string | undefined): string {
  if (v === undefined) return '';
  const s = Array.isArray(v) ? v.join(' ') : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

const lines = (rows: string[][]): string => rows.map((r) => r.join(',')).join('\n') + '\n';

export function metricsCsv(metrics: RunSummary['metrics']): string {
  const names: string[] = [];
  for (const items of Object.values(metrics))
    for (const values of Object.values(items))
      for (const name of Object.keys(values)) if (!names.includes(name)) names.push(name);
  const rows = [['node', 'item', ...names]];
  for (const [node, items] of Object.entries(metrics))
    for (const [item, values] of Object.entries(items))
      rows.push([cell(node), cell(item), ...names.map((n) => cell(values[n]))]);
  return lines(rows);
}

export function metricSummaryCsv(summary: MetricSummaries): string {
  const rows = [['node', 'metric', 'n', 'mean', 'sem', 'min', 'max']];
  for (const [node, stats] of Object.entries(summary))
    for (const [name, s] of Object.entries(stats))
      rows.push([cell(node), cell(name), ...[s.n, s.mean, s.sem, s.min, s.max].map((x) => String(x))]);
  return lines(rows);
}
