/** The end-of-run metrics table: each node's metrics over items (mean, standard error, range). */
import type { MetricSummaries } from '../runtime/events.js';
import { formatTable } from './table.js';
import { formatNumber } from '../report/number-format.js';
import { isHeadlineMetric } from '../report/metric-columns.js';

export { formatNumber };

export function formatMetricSummary(summary: MetricSummaries): string[] {
  const rows: string[][] = [];
  for (const [node, stats] of Object.entries(summary))
    for (const [name, s] of Object.entries(stats)) {
      if (!isHeadlineMetric(name, Object.keys(stats))) continue;
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
