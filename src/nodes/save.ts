/**
 * `save`: writes results as PNG files through the runtime (which puts them, atomically, in the
 * run's output folder): one file per sample and a labelled grid of truth | measurement | mask |
 * sample 1..N for each item, under `<prefix><item key>/`.
 */
import * as tf from '@tensorflow/tfjs';
import { defineNode, requireInput } from './define.js';
import { pixelsToPng } from '../io/image.js';
import { tensorToPixels, type RawPixels } from '../io/pixels.js';
import { makeGrid, type GridColumn } from '../io/grid.js';

export interface SaveParams {
  classNames?: string[];
  individual: boolean;
  grid: boolean;
  prefix: string;
  format: 'png';
}

function checkImage(value: unknown, name: string, nodeId: string, channels: readonly number[]): tf.Tensor4D {
  const t = value as tf.Tensor4D;
  if (!(t instanceof tf.Tensor) || t.rank !== 4 || !channels.includes(t.shape[3])) {
    const shape = t instanceof tf.Tensor ? `[${t.shape.join(', ')}]` : typeof value;
    throw new Error(
      `node '${nodeId}': input '${name}' must be N x H x W x ${channels.join('|')}, got ${shape}`,
    );
  }
  return t;
}

/** Zero-padded sample numbers, at least two digits, wide enough for the whole batch. */
export function sampleFileName(index: number, count: number): string {
  const width = Math.max(2, String(count - 1).length);
  return `sample-${String(index).padStart(width, '0')}.png`;
}

export default defineNode<SaveParams>({
  type: 'save',
  version: 2,
  category: 'io',
  description: 'Write samples as PNG files and a labelled comparison grid into the run output folder',
  inputs: {
    samples: { type: 'image', description: 'N x H x W x C samples in [-1, 1]' },
    truth: { type: 'image', optional: true, description: 'Ground truth, shown as the first grid column' },
    measurement: {
      type: 'image',
      optional: true,
      description: 'The observation y (smaller ones are enlarged)',
    },
    mask: { type: 'mask', optional: true, description: 'Inpainting mask (1 = observed), shown in the grid' },
    labels: {
      type: 'labels',
      optional: true,
      description: 'Class of each sample: the grid then has one column per class (e.g. from sample)',
    },
  },
  outputs: {},
  params: {
    type: 'object',
    properties: {
      individual: { type: 'boolean', default: true, description: 'Write one PNG per sample' },
      grid: { type: 'boolean', default: true, description: 'Write grid.png with all inputs side by side' },
      prefix: {
        type: 'string',
        default: '',
        description: "Prepended to the item folder, e.g. 'sr-' or 'sr/'",
      },
      format: { enum: ['png'], default: 'png' },
      classNames: {
        type: 'array',
        items: { type: 'string' },
        description: 'Column titles for class labels (index = label); default "class k"',
      },
    },
    additionalProperties: false,
  },
  // Cached like any stage: the entry holds the encoded files, so a repeated run replays them into
  // the new output folder without decoding any upstream value.

  async run(inputs, params, ctx) {
    const samples = checkImage(requireInput(inputs, 'samples', ctx.nodeId), 'samples', ctx.nodeId, [1, 3]);
    const optional = (name: string, channels: readonly number[]): tf.Tensor4D | undefined =>
      inputs[name] === undefined ? undefined : checkImage(inputs[name], name, ctx.nodeId, channels);
    const truth = optional('truth', [1, 3]);
    const measurement = optional('measurement', [1, 3]);
    const mask = optional('mask', [1]);
    const dir = `${params.prefix}${ctx.item?.key ?? 'result'}`;
    const n = samples.shape[0];

    if (params.individual) {
      const images = await tensorToPixels(samples);
      for (let i = 0; i < n; i++) {
        ctx.writeFile({
          path: `${dir}/${sampleFileName(i, n)}`,
          bytes: await pixelsToPng(images[i] as RawPixels),
        });
      }
    }

    const labels = inputs.labels as number[] | undefined;
    if (params.grid && labels) {
      // One column per class, its samples stacked as rows (e.g. class-conditional sample grids).
      if (labels.length !== n)
        throw new Error(`node '${ctx.nodeId}': ${labels.length} labels for ${n} samples`);
      const classes = [...new Set(labels)];
      const columns: GridColumn[] = classes.map((c) => ({
        label: c < 0 ? 'unconditional' : (params.classNames?.[c] ?? `class ${c}`),
        images: tf.gather(
          samples,
          labels.flatMap((l, i) => (l === c ? [i] : [])),
        ) as tf.Tensor4D,
      }));
      try {
        ctx.writeFile({ path: `${dir}/grid.png`, bytes: await makeGrid(columns) });
      } finally {
        for (const col of columns) col.images.dispose();
      }
    } else if (params.grid) {
      const perSample = tf.split(samples, n, 0) as tf.Tensor4D[];
      try {
        const columns: GridColumn[] = [];
        if (truth) columns.push({ label: 'truth', images: truth });
        if (measurement) columns.push({ label: 'measurement', images: measurement });
        if (mask) columns.push({ label: 'mask', images: mask, range: [0, 1] });
        perSample.forEach((images, i) =>
          columns.push({ label: n === 1 ? 'sample' : `sample ${i + 1}`, images }),
        );
        ctx.writeFile({ path: `${dir}/grid.png`, bytes: await makeGrid(columns) });
      } finally {
        for (const t of perSample) t.dispose();
      }
    }
    return {};
  },
});
