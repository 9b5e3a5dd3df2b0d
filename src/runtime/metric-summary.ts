/**
 * Metrics summarised over items: for every node and every numeric metric it reported, the number
 * of items, the mean, its standard error and the range. Written into run.json, printed at the end
 * of `flow run`, tabulated in reports and as CSV (metric-csv.ts).
 */
import type { MetricStat, MetricSummaries, RunSummary } from './events.js';

/** n, mean, standard error of the mean (sample std / sqrt(n); 0 for n = 1), min and max. */
export function describeValues(values: readonly number[]): MetricStat {
  const n = values.length;
  if (n === 0) throw new Error('describeValues: no values');
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { n, mean, sem: Math.sqrt(variance / n), min: Math.min(...values), max: Math.max(...values) };
}

/**
 * Per node, per metric: statistics over the items that reported a finite number for it. Lists and
 * labels (e.g. a classifier's predictions) are not summarised.
 */
export function summariseMetrics(metrics: RunSummary['metrics']): MetricSummaries {
  const out: MetricSummaries = {};
  for (const [node, items] of Object.entries(metrics)) {
    const columns = new Map<string, number[]>();
    for (const values of Object.values(items)) {
      for (const [name, v] of Object.entries(values)) {
        if (typeof v !== 'number' || !Number.isFinite(v)) continue;
        const list = columns.get(name) ?? [];
        list.push(v);
        columns.set(name, list);
      }
    }
    if (columns.size === 0) continue;
    out[node] = Object.fromEntries([...columns].map(([name, list]) => [name, describeValues(list)]));
  }
  return out;
}
