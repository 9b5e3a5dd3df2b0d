/**
 * Prints the quality-study tables (markdown) for one or more study runs:
 *
 *   node --import tsx scripts/study/summarize.ts out/study-rotated/run.json [more run.json...] [--reference vipaint2]
 */
import { readFile } from 'node:fs/promises';
import type { RunSummary } from '../../src/runtime/events.js';
import { formatStudyTable, summarizeStudy } from '../../src/report/study.js';

const args = process.argv.slice(2);
const r = args.indexOf('--reference');
const reference = r >= 0 ? args[r + 1] : undefined;
const files = r >= 0 ? args.filter((_, i) => i !== r && i !== r + 1) : args;
if (files.length === 0) {
  console.error('usage: summarize.ts <run.json>... [--reference <method>]');
  process.exit(2);
}
for (const file of files) {
  const summary = JSON.parse(await readFile(file, 'utf8')) as RunSummary;
  const mask = summary.params['mask'];
  const title = `${summary.pipeline.name}${typeof mask === 'string' ? ` (${mask} masks)` : ''}`;
  console.log(formatStudyTable(summarizeStudy(summary), { title, reference }));
}
