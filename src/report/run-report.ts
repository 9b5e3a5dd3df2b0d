/**
 * One self-contained HTML page for a finished run: the graph (SVG), the grids (PNG data URIs),
 * metrics per item and summarised over items, loss curves, timings and network calls, and the
 * provenance (pipeline text, params, versions, seeds, model digests). No scripts, no requests.
 */
import type { MetricStat, RunSummary } from '../runtime/events.js';
import { summariseMetrics } from '../runtime/metric-summary.js';
import { dotToSvg, svgElement } from './graph-svg.js';
import { lossCurveSvg, parseLossCsv } from './loss-plot.js';
import { formatNumber } from './number-format.js';
import { isHeadlineMetric } from './metric-columns.js';
import { dataUri, escapeHtml, table, type Cell } from './html.js';
import type { RunFiles } from './run-folder.js';

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; white-space: nowrap; } th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 0 1em 1em 0; vertical-align: top; }
figcaption { font-size: 12px; color: #555; }
img.grid { image-rendering: pixelated; border: 1px solid #ddd; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 12px; }
.graph svg { max-width: 100%; max-height: 560px; height: auto; }
.meta { color: #555; }
.scroll { overflow-x: auto; }
`;

const num = (x: number): Cell => ({ text: formatNumber(x), value: x });

/** The page's sections, each a small function of the run summary (and its files). */
function header(s: RunSummary): string {
  const secs = (s.ms / 1000).toFixed(2);
  return `<h1>${escapeHtml(s.pipeline.name)}</h1>
<p class="meta">${s.pipeline.description ? `${escapeHtml(s.pipeline.description)}<br>` : ''}started ${escapeHtml(s.started)}, ${secs} s on ${escapeHtml(s.backend.name)} (${escapeHtml(s.backend.provider)}); flow ${escapeHtml(s.versions.flow ?? '?')}</p>`;
}

async function graphSection(s: RunSummary): Promise<string> {
  if (!s.graph) return '<h2>Graph</h2><p>run.json has no graph (written by an older flow).</p>';
  return `<h2>Graph</h2><div class="graph">${svgElement(await dotToSvg(s.graph))}</div>`;
}

function statRow(node: string, metric: string, st: MetricStat): Cell[] {
  return [node, metric, String(st.n), num(st.mean), num(st.sem), num(st.min), num(st.max)];
}

function summarySection(s: RunSummary): string {
  const summary = s.metricSummary ?? summariseMetrics(s.metrics);
  const rows = Object.entries(summary).flatMap(([node, stats]) =>
    Object.entries(stats)
      .filter(([metric]) => isHeadlineMetric(metric, Object.keys(stats)))
      .map(([metric, st]) => statRow(node, metric, st)),
  );
  if (rows.length === 0) return '<h2>Metrics over items</h2><p>No metrics were reported.</p>';
  return `<h2>Metrics over items</h2>
<p class="meta">Mean, standard error of the mean (sample standard deviation / &radic;n), min and max over the items; for metrics taken over several samples, the per-item mean (metrics-summary.csv has all).</p>
${table(['node', 'metric', 'items', 'mean', 'sem', 'min', 'max'], rows, 'id="metric-summary"')}`;
}

function perItemSection(s: RunSummary): string {
  const parts = Object.entries(s.metrics).map(([node, items]) => {
    const names: string[] = [];
    for (const values of Object.values(items))
      for (const k of Object.keys(values)) if (!names.includes(k)) names.push(k);
    const rows = Object.entries(items).map(([item, values]): Cell[] => [
      item || '(run)',
      ...names.map((k): Cell => {
        const v = values[k];
        if (typeof v === 'number') return num(v);
        if (Array.isArray(v)) return v.join(' ');
        return v ?? '';
      }),
    ]);
    const t = table(['item', ...names], rows, `data-node="${escapeHtml(node)}" class="per-item"`);
    return `<h3>${escapeHtml(node)}</h3>\n<div class="scroll">${t}</div>`;
  });
  return parts.length ? `<h2>Metrics per item</h2>\n${parts.join('\n')}` : '';
}

async function gridsSection(s: RunSummary, files: RunFiles): Promise<string> {
  const grids = s.files.filter((f) => f === 'grid.png' || f.endsWith('/grid.png'));
  if (grids.length === 0) return '';
  const figs = await Promise.all(
    grids.map(
      async (f) =>
        `<figure><img class="grid" alt="${escapeHtml(f)}" src="${dataUri(await files.read(f), 'image/png')}"><figcaption>${escapeHtml(f)}</figcaption></figure>`,
    ),
  );
  return `<h2>Grids</h2>\n${figs.join('\n')}`;
}

async function lossSection(s: RunSummary, files: RunFiles): Promise<string> {
  const csvs = s.files.filter((f) => f.endsWith('-loss.csv'));
  if (csvs.length === 0) return '';
  const plots = await Promise.all(
    csvs.map(async (f) => {
      const t = parseLossCsv(Buffer.from(await files.read(f)).toString('utf8'), f);
      const x = t.columns.includes('iteration') ? 'iteration' : (t.columns[0] as string);
      return `<figure>${lossCurveSvg(t, { x, title: f, width: 480, height: 240 }).trim()}</figure>`;
    }),
  );
  return `<h2>Loss curves</h2>\n${plots.join('\n')}`;
}

function timingSection(s: RunSummary): string {
  const rows = Object.entries(s.nodes).map(([id, n]): Cell[] => [
    id,
    n.type,
    String(n.executions),
    String(n.cacheHits),
    num(n.ms),
    num(n.calls.forward),
    num(n.calls.gradient),
  ]);
  const sum = (f: (n: RunSummary['nodes'][string]) => number): number =>
    Object.values(s.nodes).reduce((a, n) => a + f(n), 0);
  rows.push([
    'total',
    '',
    '',
    '',
    num(s.ms),
    num(sum((n) => n.calls.forward)),
    num(sum((n) => n.calls.gradient)),
  ]);
  const c = s.cache;
  return `<h2>Timings and network calls</h2>
<p class="meta">Time is each node's own work in ms (the total row: the run's wall time); network calls are plain (forward) and differentiated (gradient) evaluations. Cache: ${c.enabled ? `${c.hits} hits, ${c.misses} misses` : 'off'}.</p>
${table(['node', 'type', 'runs', 'cached', 'ms', 'forward calls', 'gradient calls'], rows, 'id="timings"')}`;
}

function provenanceSection(s: RunSummary): string {
  const digests = Object.entries(s.nodes)
    .filter(([, n]) => n.inputDigest !== undefined)
    .map(([id, n]): Cell[] => [
      id,
      n.type,
      String(s.nodeParams[id]?.path ?? ''),
      { html: `<code>${escapeHtml(n.inputDigest ?? '')}</code>` },
    ]);
  const versions = Object.entries(s.versions).map(([k, v]): Cell[] => [k, v]);
  return `<h2>Provenance</h2>
<p>Pipeline <code>${escapeHtml(s.pipeline.file)}</code>, sha256 <code>${escapeHtml(s.pipeline.sha256)}</code>.
Run seed <code>${escapeHtml(String(s.params.seed ?? 0))}</code>; each node and item draws from its own seed, derived from the run seed, the node id and the item key (and written into every PNG's text chunks with the pipeline digest, node, item and params digest).</p>
${table(['component', 'version'], versions)}
${digests.length ? `<h3>Model and input file digests</h3>\n${table(['node', 'type', 'path', 'sha256'], digests, 'id="digests"')}` : ''}
<h3>Params</h3><pre>${escapeHtml(JSON.stringify(s.params, null, 2))}</pre>
<details><summary>Node params</summary><pre>${escapeHtml(JSON.stringify(s.nodeParams, null, 2))}</pre></details>
${s.pipeline.text !== undefined ? `<h3>Pipeline text</h3><pre>${escapeHtml(s.pipeline.text)}</pre>` : ''}`;
}

/** The whole page as one string. `files` reads the run's own files (grids, loss CSVs). */
export async function renderRunReport(summary: RunSummary, files: RunFiles): Promise<string> {
  const sections = [
    header(summary),
    await graphSection(summary),
    summarySection(summary),
    await gridsSection(summary, files),
    perItemSection(summary),
    await lossSection(summary, files),
    timingSection(summary),
    provenanceSection(summary),
  ];
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>flow report: ${escapeHtml(summary.pipeline.name)}</title>
<style>${STYLE}</style></head>
<body>
${sections.filter(Boolean).join('\n')}
</body></html>
`;
}
