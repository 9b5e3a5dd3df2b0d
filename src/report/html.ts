/** Small HTML building blocks for self-contained reports: escaping, tables, inlined images. */

export const escapeHtml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A table cell: text is escaped; numbers keep their exact value in data-value. */
export type Cell = string | { text: string; value: number } | { html: string };

function cellHtml(c: Cell): string {
  if (typeof c === 'string') return `<td>${escapeHtml(c)}</td>`;
  if ('html' in c) return `<td>${c.html}</td>`;
  return `<td class="num" data-value="${c.value}">${escapeHtml(c.text)}</td>`;
}

export function table(head: string[], rows: Cell[][], attrs = ''): string {
  const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map(cellHtml).join('')}</tr>`).join('\n');
  return `<table${attrs ? ` ${attrs}` : ''}><thead><tr>${th}</tr></thead>\n<tbody>\n${body}\n</tbody></table>`;
}

/** An image inlined as a data URI, so the page needs no other file and makes no request. */
export function dataUri(bytes: Uint8Array, mime: string): string {
  return `data:${mime};base64,${Buffer.from(bytes).toString('base64')}`;
}
