/** The end-of-run metrics table: each node's metrics over items (mean, standard error, range). */
import type { MetricSummaries } from '../runtime/events.js';
import { formatTable } from './table.js';

/** Four significant digits; an exponent only for very large or small magnitudes. */
export function formatNumber(x: number): string {
  const a = Math.abs(x);
  if (a !== 0 && Number.isFinite(x) && (a >= 1e5 || a < 1e-3)) return x.toExponential(3);
  return String(Number(x.toPrecision(4)));
}

/**
 * A metric node reports each metric's mean, min and max over the samples of an item; the terminal
 * shows the per-item means only (run.json and metrics-summary.csv have all of them).
 */
function shown(name: string, names: string[]): boolean {
  const m = /^(.*)_(min|max)$/.exec(name);
  return !(m && names.includes(`${m[1]}_mean`));
}

export function formatMetricSummary(summary: MetricSummaries): string[] {
  const rows: string[][] = [];
  for (const [node, stats] of Object.entries(summary))
    for (const [name, s] of Object.entries(stats)) {
      if (!shown(name, Object.keys(stats))) continue;
      rows.push([
        node,
        name,
        String(s.n),
        formatNumber(s.mean),
        formatNumber(s.sem),
        formatNumber(s.min),
        formatNumber(s.max),
      ]);
    }
  if (rows.length === 0) return [];
  return formatTable(['node', 'metric', 'items', 'mean', 'sem', 'min', 'max'], rows);
}
