/**
 * Loss curves as standalone SVG (for model cards and reports): a training log CSV (a header, then
 * numeric rows, empty cells allowed) plotted as one polyline per column against a chosen x
 * column, on a log-10 y axis when every value is positive (losses usually span decades).
 */

export interface LossTable {
  columns: string[];
  /** rows[i][j] is column j of row i; NaN where the cell is empty. */
  rows: number[][];
}

export function parseLossCsv(text: string, source = 'loss csv'): LossTable {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = lines[0];
  if (header === undefined) throw new Error(`${source}: empty file`);
  const columns = header.split(',').map((c) => c.trim());
  const rows = lines.slice(1).map((line, i) => {
    const cells = line.split(',');
    if (cells.length > columns.length) {
      throw new Error(`${source}:${i + 2}: ${cells.length} cells for ${columns.length} columns`);
    }
    return columns.map((_, j) => {
      const cell = (cells[j] ?? '').trim();
      if (cell === '') return NaN;
      const v = Number(cell);
      if (!Number.isFinite(v))
        throw new Error(`${source}:${i + 2}: '${cell}' in column '${columns[j]}' is not a number`);
      return v;
    });
  });
  return { columns, rows };
}

export interface LossPlotOptions {
  x?: string;
  /** Columns to draw (default every column but x and 'minutes'). */
  series?: string[];
  title?: string;
  width?: number;
  height?: number;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Tick label: short, without float noise. */
const tick = (v: number) =>
  Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-2) ? v.toExponential(0) : `${+v.toPrecision(3)}`;

export function lossCurveSvg(table: LossTable, options: LossPlotOptions = {}): string {
  const xName = options.x ?? 'step';
  const xi = table.columns.indexOf(xName);
  if (xi < 0) throw new Error(`loss plot: no column '${xName}' (columns: ${table.columns.join(', ')})`);
  const names = options.series ?? table.columns.filter((c) => c !== xName && c !== 'minutes');
  const series = names.map((name) => {
    const j = table.columns.indexOf(name);
    if (j < 0) throw new Error(`loss plot: no column '${name}' (columns: ${table.columns.join(', ')})`);
    const points = table.rows
      .map((r) => [r[xi] as number, r[j] as number] as const)
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    return { name, points };
  });
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) throw new Error('loss plot: no data points');
  const logY = all.every(([, y]) => y > 0);
  const fy = (y: number) => (logY ? Math.log10(y) : y);
  const [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => fy(p[1]))), Math.max(...all.map((p) => fy(p[1])))];
  if (y1 === y0) [y0, y1] = [y0 - 1, y1 + 1];
  const width = options.width ?? 640;
  const height = options.height ?? 320;
  const m = { left: 64, right: 16, top: options.title ? 32 : 12, bottom: 40 };
  const px = (x: number) => m.left + ((x - x0) / (x1 - x0 || 1)) * (width - m.left - m.right);
  const py = (y: number) => height - m.bottom - ((fy(y) - y0) / (y1 - y0)) * (height - m.top - m.bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
  ];
  if (options.title)
    out.push(
      `<text x="${width / 2}" y="20" text-anchor="middle" font-size="13">${escapeXml(options.title)}</text>`,
    );
  // y ticks: decades on a log axis, five even steps otherwise.
  const yTicks: number[] = [];
  if (logY) for (let e = Math.ceil(y0); e <= Math.floor(y1); e++) yTicks.push(10 ** e);
  if (yTicks.length < 2)
    for (let k = 0; k <= 4; k++)
      yTicks.push(logY ? 10 ** (y0 + ((y1 - y0) * k) / 4) : y0 + ((y1 - y0) * k) / 4);
  for (const v of yTicks) {
    const y = py(v).toFixed(1);
    out.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(
      `<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${tick(v)}</text>`,
    );
  }
  for (let k = 0; k <= 4; k++) {
    const v = x0 + ((x1 - x0) * k) / 4;
    out.push(
      `<text x="${px(v).toFixed(1)}" y="${height - m.bottom + 16}" text-anchor="middle">${tick(Math.round(v))}</text>`,
    );
  }
  out.push(
    `<text x="${(m.left + width - m.right) / 2}" y="${height - 6}" text-anchor="middle">${escapeXml(xName)}</text>`,
  );
  out.push(
    `<rect x="${m.left}" y="${m.top}" width="${width - m.left - m.right}" height="${height - m.top - m.bottom}" fill="none" stroke="#444"/>`,
  );
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length] as string;
    const d = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${d}"/>`);
    out.push(
      `<text x="${m.left + 8}" y="${m.top + 14 + 14 * i}" fill="${colour}">${escapeXml(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
