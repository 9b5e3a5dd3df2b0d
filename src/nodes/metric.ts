/**
 * `metric`: PSNR and SSIM of every sample against the truth (src/metric: PSNR on [0, 1]-scaled
 * images, SSIM as Wang et al. / skimage). With a mask wired, the same metrics restricted to the
 * missing pixels are added with a `_missing` suffix. Per-sample arrays plus mean / min / max; the
 * summaries also go to the run's metrics table. With two or more samples, their diversity (mean
 * per-pixel std across samples) is added too, also over the missing region. With a perceptual
 * model wired, LPIPS of each sample against the truth (`lpips`, lower is better).
 */
import { defineNode } from './define.js';
import { psnr } from '../metric/psnr.js';
import { ssim } from '../metric/ssim.js';
import { diversity } from '../metric/diversity.js';
import { expectPerceptual } from './model-inputs.js';
import { checkMaskCoverage, expectImage, expectMask, nodeError } from '../physics/node-inputs.js';

export type MetricsRecord = Record<string, number | number[]>;

function summarise(
  out: MetricsRecord,
  summary: Record<string, number>,
  name: string,
  values: number[],
): void {
  out[name] = values;
  const stats = {
    [`${name}_mean`]: values.reduce((a, b) => a + b, 0) / values.length,
    [`${name}_min`]: Math.min(...values),
    [`${name}_max`]: Math.max(...values),
  };
  Object.assign(out, stats);
  Object.assign(summary, stats);
}

export default defineNode<Record<string, never>>({
  type: 'metric',
  version: 2,
  category: 'evaluate',
  description: 'PSNR and SSIM of each sample against the reference, also over the missing region of a mask',
  inputs: {
    image: { type: 'image', description: 'Samples, N x H x W x C in [-1, 1]' },
    reference: { type: 'image', description: 'The true image, 1 x H x W x C' },
    mask: {
      type: 'mask',
      optional: true,
      description: 'Inpainting mask (1 = observed): adds *_missing metrics',
    },
    perceptual: {
      type: 'model',
      optional: true,
      description: 'a perceptual model (LPIPS, made by flow import-lpips): adds lpips per sample',
    },
  },
  outputs: {
    metrics: {
      type: 'metrics',
      description: 'psnr, ssim (per sample) and their _mean/_min/_max, diversity, plus _missing; lpips',
    },
  },
  params: { type: 'object', properties: {}, additionalProperties: false },

  async run(inputs, _params, ctx) {
    const image = expectImage(inputs['image'], 'image', ctx.nodeId);
    const reference = expectImage(inputs['reference'], 'reference', ctx.nodeId, 1);
    const [, h, w, c] = image.shape;
    const [, rh, rw, rc] = reference.shape;
    if (h !== rh || w !== rw || c !== rc) {
      throw new Error(
        `node '${ctx.nodeId}': image ${h}x${w}x${c} and reference ${rh}x${rw}x${rc} differ in size`,
      );
    }
    const metrics: MetricsRecord = {};
    const summary: Record<string, number> = {};
    // The metrics read pixels synchronously: read them once asynchronously first, which every
    // backend allows and after which webgpu (in Node) can serve the synchronous reads too.
    await Promise.all([image.data(), reference.data()]);
    try {
      summarise(metrics, summary, 'psnr', psnr(image, reference));
      summarise(metrics, summary, 'ssim', ssim(image, reference));
      const several = image.shape[0] > 1;
      if (several) metrics.diversity = summary.diversity = diversity(image);
      if (inputs['perceptual'] !== undefined) {
        const d = expectPerceptual(inputs['perceptual'], ctx.nodeId).distance(image, reference);
        const values = Array.from(await d.data());
        d.dispose();
        summarise(metrics, summary, 'lpips', values);
      }
      if (inputs['mask'] !== undefined) {
        const mask = await expectMask(inputs['mask'], 'mask', ctx.nodeId, h, w).data();
        checkMaskCoverage(mask, ctx.nodeId);
        const missing = mask.map((v) => (v < 0.5 ? 1 : 0));
        summarise(metrics, summary, 'psnr_missing', psnr(image, reference, { region: missing }));
        summarise(metrics, summary, 'ssim_missing', ssim(image, reference, { region: missing }));
        if (several)
          metrics.diversity_missing = summary.diversity_missing = diversity(image, { region: missing });
      }
    } catch (e) {
      throw e instanceof Error && e.message.startsWith(`node '${ctx.nodeId}'`) ? e : nodeError(ctx.nodeId, e);
    }
    ctx.reportMetrics(summary);
    return { metrics };
  },
});
