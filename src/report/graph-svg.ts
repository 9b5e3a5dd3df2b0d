/**
 * The pipeline graph as an SVG picture: Graphviz compiled to WebAssembly (@viz-js/viz), run in
 * process on the dot text of `toDot`, so no `dot` binary is needed.
 */
import { instance, type Viz } from '@viz-js/viz';

let viz: Promise<Viz> | undefined;

/** A standalone SVG document for a Graphviz dot graph; a dot syntax error is thrown, one line. */
export async function dotToSvg(dot: string): Promise<string> {
  viz ??= instance();
  const result = (await viz).render(dot, { format: 'svg' });
  if (result.status !== 'success') {
    const errors = result.errors.filter((e) => e.level !== 'warning').map((e) => e.message);
    throw new Error(`graphviz: ${errors.join('; ') || 'rendering failed'}`);
  }
  return result.output;
}

/** The `<svg>` element alone (no XML prolog or DOCTYPE), for inlining into HTML. */
export function svgElement(svg: string): string {
  const start = svg.indexOf('<svg');
  if (start < 0) throw new Error('not an SVG document');
  return svg.slice(start).trim();
}
