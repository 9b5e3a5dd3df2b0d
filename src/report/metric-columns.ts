/**
 * Which metrics a summary table shows: a metric node reports each metric's mean, min and max over
 * the samples of an item; tables over items show the per-item means (run.json and
 * metrics-summary.csv keep all of them).
 */
export function isHeadlineMetric(name: string, names: readonly string[]): boolean {
  const m = /^(.*)_(min|max)$/.exec(name);
  return !(m && names.includes(`${m[1]}_mean`));
}
