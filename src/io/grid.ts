/**
 * Labelled comparison grids (truth | measurement | sample 1 ... N) as one PNG.
 *
 * Every cell is drawn at one common size: the largest height and width among the inputs, so a 4x
 * smaller super-resolution measurement is enlarged to match the truth. Enlarging is nearest
 * neighbour, done here on the 8-bit pixels, so each measured pixel shows as a crisp block instead
 * of being smoothed into something that looks like a reconstruction. Cells smaller than
 * `minCellSize` are enlarged further by a whole factor (32x32 -> 128x128) so the labels fit and
 * stay legible. Grayscale images are shown as gray RGB next to colour ones.
 *
 * Labels are SVG text rendered by sharp's librsvg, so they need a system font (fontconfig picks
 * DejaVu Sans, Liberation Sans or any sans-serif); without any font installed the band stays blank.
 */
import type * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { tensorToPixels, type RawPixels } from './pixels.js';

export interface GridColumn {
  /** Text drawn above the column. */
  label: string;
  /** N x H x W x C with C = 1 or 3: each batch entry is one row of the column. Read, not disposed. */
  images: tf.Tensor4D;
  /** Values shown as black and white. Default [-1, 1]; a {0, 1} mask uses [0, 1]. */
  range?: readonly [number, number];
}

export interface GridOptions {
  /** Cells whose longer side is below this are enlarged by the smallest whole factor reaching it. Default 128. */
  minCellSize?: number;
  /** Background gap between cells and around the edge, in pixels. Default 4. */
  gap?: number;
  /** Height of the label band above the first row, in pixels. Default 22. */
  labelHeight?: number;
  /** Label font size in pixels (reduced for labels too long for their cell). Default 14. */
  fontSize?: number;
}

/** Where everything goes; computed from the input sizes alone, so tests can check it. */
export interface GridLayout {
  columns: number;
  rows: number;
  /** The common (pre-enlargement) size every image is brought to. */
  baseHeight: number;
  baseWidth: number;
  /** Whole enlargement factor for small cells. */
  scale: number;
  cellHeight: number;
  cellWidth: number;
  gap: number;
  labelHeight: number;
  width: number;
  height: number;
}

const BACKGROUND = 255;
/** A thin frame around every cell, so white content (an observed-everywhere mask) stays visible. */
const FRAME = 160;

export function gridLayout(
  sizes: readonly { batch: number; height: number; width: number }[],
  opts: GridOptions = {},
): GridLayout {
  if (sizes.length === 0) throw new Error('makeGrid needs at least one column');
  const gap = opts.gap ?? 4;
  const labelHeight = opts.labelHeight ?? 22;
  const minCell = opts.minCellSize ?? 128;
  const baseHeight = Math.max(...sizes.map((s) => s.height));
  const baseWidth = Math.max(...sizes.map((s) => s.width));
  const scale = Math.max(1, Math.ceil(minCell / Math.max(baseHeight, baseWidth)));
  const cellHeight = baseHeight * scale;
  const cellWidth = baseWidth * scale;
  const columns = sizes.length;
  const rows = Math.max(...sizes.map((s) => s.batch));
  return {
    columns,
    rows,
    baseHeight,
    baseWidth,
    scale,
    cellHeight,
    cellWidth,
    gap,
    labelHeight,
    width: gap + columns * (cellWidth + gap),
    height: gap + labelHeight + rows * (cellHeight + gap),
  };
}

/** Draw a 1-pixel frame just outside the h x w cell at (top, left); the gap leaves room for it. */
function frameCell(
  canvas: Uint8Array,
  canvasWidth: number,
  top: number,
  left: number,
  h: number,
  w: number,
): void {
  const setPixel = (y: number, x: number): void => {
    const d = (y * canvasWidth + x) * 3;
    canvas.fill(FRAME, d, d + 3);
  };
  for (let x = left - 1; x <= left + w; x++) {
    setPixel(top - 1, x);
    setPixel(top + h, x);
  }
  for (let y = top; y < top + h; y++) {
    setPixel(y, left - 1);
    setPixel(y, left + w);
  }
}

/** Paste `src` into the RGB canvas at (top, left), enlarged by nearest neighbour to h x w. */
function pasteNearest(
  canvas: Uint8Array,
  canvasWidth: number,
  src: RawPixels,
  top: number,
  left: number,
  h: number,
  w: number,
): void {
  for (let y = 0; y < h; y++) {
    const sy = Math.floor((y * src.height) / h);
    for (let x = 0; x < w; x++) {
      const sx = Math.floor((x * src.width) / w);
      const s = (sy * src.width + sx) * src.channels;
      const d = ((top + y) * canvasWidth + left + x) * 3;
      if (src.channels === 1) {
        canvas.fill(src.data[s] as number, d, d + 3);
      } else {
        canvas[d] = src.data[s] as number;
        canvas[d + 1] = src.data[s + 1] as number;
        canvas[d + 2] = src.data[s + 2] as number;
      }
    }
  }
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** One SVG covering the label band, with each label centred over its column. */
function labelsSvg(labels: readonly string[], layout: GridLayout, fontSize: number): string {
  const { gap, cellWidth, labelHeight, width } = layout;
  const height = gap + labelHeight;
  const texts = labels.map((label, i) => {
    // DejaVu Sans averages ~0.6 em per character: shrink long labels to fit their cell.
    const fitted = Math.min(fontSize, (cellWidth - 4) / (0.6 * Math.max(1, label.length)));
    const size = Math.max(7, Math.floor(fitted));
    const cx = gap + i * (cellWidth + gap) + cellWidth / 2;
    const baseline = gap + labelHeight / 2 + size * 0.35;
    return (
      `<text x="${cx}" y="${baseline.toFixed(1)}" font-size="${size}" text-anchor="middle">` +
      `${escapeXml(label)}</text>`
    );
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<g font-family="DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif" fill="#111111">` +
    `${texts.join('')}</g></svg>`
  );
}

/** Render labelled columns of images into one RGB PNG (see the module notes for the layout rules). */
export async function makeGrid(columns: readonly GridColumn[], opts: GridOptions = {}): Promise<Uint8Array> {
  for (const c of columns) {
    const shape = c.images.shape;
    if (shape.length !== 4 || (shape[3] !== 1 && shape[3] !== 3)) {
      throw new Error(`grid column '${c.label}': expected N x H x W x 1|3 images, got [${shape.join(', ')}]`);
    }
  }
  const layout = gridLayout(
    columns.map((c) => ({ batch: c.images.shape[0], height: c.images.shape[1], width: c.images.shape[2] })),
    opts,
  );
  const canvas = new Uint8Array(layout.width * layout.height * 3).fill(BACKGROUND);
  for (let col = 0; col < columns.length; col++) {
    const column = columns[col] as GridColumn;
    const images = await tensorToPixels(column.images, column.range);
    const left = layout.gap + col * (layout.cellWidth + layout.gap);
    images.forEach((img, row) => {
      const top = layout.gap + layout.labelHeight + row * (layout.cellHeight + layout.gap);
      if (layout.gap >= 1) frameCell(canvas, layout.width, top, left, layout.cellHeight, layout.cellWidth);
      pasteNearest(canvas, layout.width, img, top, left, layout.cellHeight, layout.cellWidth);
    });
  }
  const svg = labelsSvg(
    columns.map((c) => c.label),
    layout,
    opts.fontSize ?? 14,
  );
  // Compositing yields RGBA; a second pass drops the (all-opaque) alpha so the file is plain RGB.
  const composited = await sharp(canvas, { raw: { width: layout.width, height: layout.height, channels: 3 } })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width, height, channels } = composited.info;
  const png = await sharp(composited.data, { raw: { width, height, channels } })
    .removeAlpha()
    .png()
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.length);
}
