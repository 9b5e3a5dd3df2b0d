/**
 * Tabulates a quality-study run (pipelines/study/*.yaml): for every method wired into a
 * `score-<method>` chain, the per-image metrics averaged over images with their standard errors,
 * the network calls and time spent per image, and paired differences against one reference
 * method (the same images, so the image-to-image spread cancels).
 */
import type { RunSummary } from '../runtime/events.js';
import { describeValues } from '../runtime/metric-summary.js';

/** The per-image quantities reported, in table order, and where they come from. */
export const STUDY_COLUMNS = [
  { key: 'psnr_mean', node: 'score', label: 'PSNR' },
  { key: 'psnr_max', node: 'score', label: 'best-of-N PSNR' },
  { key: 'ssim_mean', node: 'score', label: 'SSIM' },
  { key: 'psnr_missing_mean', node: 'score', label: 'PSNR missing' },
  { key: 'ssim_missing_mean', node: 'score', label: 'SSIM missing' },
  { key: 'diversity', node: 'score', label: 'diversity' },
  { key: 'diversity_missing', node: 'score', label: 'diversity missing' },
  { key: 'agreement', node: 'classify', label: 'class agreement' },
] as const;

export type StudyKey = (typeof STUDY_COLUMNS)[number]['key'];

export interface Estimate {
  mean: number;
  /** Standard error of the mean over images (0 for a single image). */
  sem: number;
  n: number;
}

export interface StudyRow {
  method: string;
  images: number;
  /** Network calls per image (all N samples of an image count once per batched call). */
  forwardCalls: number;
  gradientCalls: number;
  values: Partial<Record<StudyKey, Estimate>>;
  /** Per image, for paired comparisons. */
  perImage: Partial<Record<StudyKey, Map<string, number>>>;
}

function estimate(values: number[]): Estimate {
  const { mean, sem, n } = describeValues(values);
  return { mean, sem, n };
}

/** Methods scored in the run (every `score-<method>/score` node): VIPaint variants first, then the rest. */
export function studyMethods(summary: RunSummary): string[] {
  const found = Object.keys(summary.nodeParams)
    .map((id) => /^score-(.+)\/score$/.exec(id)?.[1])
    .filter((m): m is string => m !== undefined);
  const vipaint = found.filter((m) => m.startsWith('vipaint')).sort();
  return [...vipaint, ...found.filter((m) => !m.startsWith('vipaint'))];
}

/** Run params that only choose the images: chunks of one study differ in these and nothing else. */
const SELECTION_PARAMS = new Set(['images']);

function studySettings(summary: RunSummary): string {
  const kept = Object.entries(summary.params)
    .filter(([name]) => !SELECTION_PARAMS.has(name))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return JSON.stringify([summary.pipeline.name, kept]);
}

/**
 * One summary from the chunks of a study run (the same pipeline and params on disjoint image
 * ranges, e.g. from scripts/study/run.ts): metrics are joined per item, call counts, executions
 * and times added. Chunks with other settings, or an image present in two chunks, are errors.
 */
export function mergeStudyRuns(runs: { file: string; summary: RunSummary }[]): RunSummary {
  const first = runs[0];
  if (!first) throw new Error('mergeStudyRuns: no runs given');
  const settings = studySettings(first.summary);
  const merged: RunSummary = structuredClone(first.summary);
  const seen = new Map<string, string>();
  const noteItems = (summary: RunSummary, file: string): void => {
    for (const byItem of Object.values(summary.metrics)) {
      for (const item of Object.keys(byItem)) {
        if (item === '') continue; // run-wide nodes report under the empty key in every chunk
        const other = seen.get(item);
        if (other !== undefined && other !== file) {
          throw new Error(`image '${item}' is in both ${other} and ${file}: chunks must not overlap`);
        }
        seen.set(item, file);
      }
    }
  };
  noteItems(first.summary, first.file);
  for (const { file, summary } of runs.slice(1)) {
    if (studySettings(summary) !== settings) {
      throw new Error(`${file}: pipeline or params differ from ${first.file} (beyond the image selection)`);
    }
    noteItems(summary, file);
    for (const [node, byItem] of Object.entries(summary.metrics)) {
      Object.assign((merged.metrics[node] ??= {}), byItem);
    }
    for (const [id, node] of Object.entries(summary.nodes)) {
      const into = merged.nodes[id];
      if (!into) {
        merged.nodes[id] = structuredClone(node);
        continue;
      }
      into.executions += node.executions;
      into.cacheHits += node.cacheHits;
      into.ms += node.ms;
      into.calls.forward += node.calls.forward;
      into.calls.gradient += node.calls.gradient;
    }
    merged.ms += summary.ms;
    merged.files.push(...summary.files);
  }
  return merged;
}

/** Groups study runs by pipeline and params (ignoring the image selection), in first-seen order. */
export function groupStudyRuns<T extends { summary: RunSummary }>(runs: T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const r of runs) {
    const key = studySettings(r.summary);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()];
}

export function summarizeStudy(summary: RunSummary): StudyRow[] {
  const methods = studyMethods(summary);
  if (methods.length === 0) {
    throw new Error(`run '${summary.pipeline.name}' has no score-<method>/score metrics: not a study run`);
  }
  return methods.map((method) => {
    const perImage: StudyRow['perImage'] = {};
    const values: StudyRow['values'] = {};
    for (const column of STUDY_COLUMNS) {
      const byItem = summary.metrics[`score-${method}/${column.node}`] ?? {};
      const map = new Map<string, number>();
      for (const [item, record] of Object.entries(byItem)) {
        const v = record[column.key];
        if (typeof v === 'number' && Number.isFinite(v)) map.set(item, v);
      }
      if (map.size === 0) continue;
      perImage[column.key] = map;
      values[column.key] = estimate([...map.values()]);
    }
    const images = Object.keys(summary.metrics[`score-${method}/score`] ?? {}).length;
    let forward = 0;
    let gradient = 0;
    for (const [id, node] of Object.entries(summary.nodes)) {
      if (id !== method && !id.startsWith(`${method}/`)) continue;
      forward += node.calls.forward;
      gradient += node.calls.gradient;
    }
    return {
      method,
      images,
      forwardCalls: forward / images,
      gradientCalls: gradient / images,
      values,
      perImage,
    };
  });
}

/** Mean over shared images of (method - reference), with its standard error. */
export function pairedDifference(row: StudyRow, reference: StudyRow, key: StudyKey): Estimate | undefined {
  const a = row.perImage[key];
  const b = reference.perImage[key];
  if (!a || !b) return undefined;
  const diffs: number[] = [];
  for (const [item, v] of a) {
    const r = b.get(item);
    if (r !== undefined) diffs.push(v - r);
  }
  return diffs.length > 0 ? estimate(diffs) : undefined;
}

const fmt = (e: Estimate | undefined, digits: number): string =>
  e === undefined ? '-' : `${e.mean.toFixed(digits)} ± ${e.sem.toFixed(digits)}`;

const digitsOf = (key: StudyKey): number => (key.startsWith('psnr') ? 2 : 3);

/** Markdown: one row per method, then paired differences against `reference` (default the first). */
export function formatStudyTable(
  rows: StudyRow[],
  options: { title?: string; reference?: string } = {},
): string {
  const keys = STUDY_COLUMNS.filter((c) => rows.some((r) => r.values[c.key])).map((c) => c.key);
  const label = (k: StudyKey) => STUDY_COLUMNS.find((c) => c.key === k)?.label ?? k;
  const lines: string[] = [];
  if (options.title) lines.push(`### ${options.title}`, '');
  const n = Math.max(...rows.map((r) => r.images));
  lines.push(`Mean ± standard error over ${n} images.`, '');
  lines.push(`| method | calls/image (fwd + grad) | ${keys.map(label).join(' | ')} |`);
  lines.push(`| --- | --- | ${keys.map(() => '---').join(' | ')} |`);
  for (const r of rows) {
    const calls = `${+r.forwardCalls.toFixed(1)} + ${+r.gradientCalls.toFixed(1)}`;
    const cells = keys.map((k) => fmt(r.values[k], digitsOf(k)));
    lines.push(`| ${r.method} | ${calls} | ${cells.join(' | ')} |`);
  }
  const reference = rows.find((r) => r.method === (options.reference ?? rows[0]?.method));
  if (reference && rows.length > 1) {
    lines.push('', `Paired differences, method minus ${reference.method} (same images):`, '');
    lines.push(`| method | ${keys.map(label).join(' | ')} |`);
    lines.push(`| --- | ${keys.map(() => '---').join(' | ')} |`);
    for (const r of rows) {
      if (r === reference) continue;
      lines.push(
        `| ${r.method} | ${keys.map((k) => fmt(pairedDifference(r, reference, k), digitsOf(k))).join(' | ')} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
