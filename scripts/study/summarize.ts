/**
 * Prints the quality-study tables (markdown) for one or more study runs; the chunks of one task
 * (same pipeline and params, disjoint images, as scripts/study/run.ts writes them) are merged
 * into one table:
 *
 *   node --import tsx scripts/study/summarize.ts study-out/rotated/*\/run.json [more...] [--reference vipaint2]
 */
import { readFile } from 'node:fs/promises';
import type { RunSummary } from '../../src/runtime/events.js';
import { formatStudyTable, groupStudyRuns, mergeStudyRuns, summarizeStudy } from '../../src/report/study.js';

const args = process.argv.slice(2);
const r = args.indexOf('--reference');
const reference = r >= 0 ? args[r + 1] : undefined;
const files = r >= 0 ? args.filter((_, i) => i !== r && i !== r + 1) : args;
if (files.length === 0) {
  console.error('usage: summarize.ts <run.json>... [--reference <method>]');
  process.exit(2);
}
const runs = await Promise.all(
  files.map(async (file) => ({ file, summary: JSON.parse(await readFile(file, 'utf8')) as RunSummary })),
);
for (const group of groupStudyRuns(runs)) {
  const summary = mergeStudyRuns(group);
  const mask = summary.params['mask'];
  const title = `${summary.pipeline.name}${typeof mask === 'string' ? ` (${mask} masks)` : ''}`;
  console.log(formatStudyTable(summarizeStudy(summary), { title, reference }));
}
