/**
 * `schedule`: the VIPaint keypoints T_e = s(K) > ... > s(1) = T_s on a model's noise schedule:
 * given explicitly, picked evenly in time between two SNRs, or (default) the paper's for K = 2 or 4
 * (docs/method.md section 2: LDM [550, 400] / [550, 500, 450, 400]; EDM [5, 2] / [5, 4, 3.5, 2.5, 2]).
 * Keypoints out of order or outside the schedule are load-time-like errors naming the entry.
 */
import { defineNode } from './define.js';
import { expectModel } from './model-inputs.js';
import {
  PAPER_KEYPOINTS,
  describeKeypoints,
  keypointsBySnr,
  validateKeypoints,
} from '../schedules/keypoints.js';

export interface ScheduleParams {
  K: number;
  keypoints?: number[];
  snrRange?: [number, number];
}

/** The value on a `schedule` edge: plain JSON, so it caches. */
export interface KeypointSchedule {
  schedule: Record<string, unknown>;
  keypoints: number[];
  info: { t: number; alpha: number; sigma: number; snr: number }[];
}

export default defineNode<ScheduleParams>({
  type: 'schedule',
  version: 1,
  category: 'solver',
  description:
    "VIPaint keypoints on a model's noise schedule: explicit, by SNR range, or the paper's defaults",
  inputs: { model: { type: 'model', description: 'a diffusion prior' } },
  outputs: {
    schedule: { type: 'schedule', description: 'keypoints T_e > ... > T_s with alpha, sigma, SNR' },
  },
  params: {
    type: 'object',
    properties: {
      K: { type: 'integer', minimum: 2, default: 2, description: 'number of keypoints (VIPaint-K)' },
      keypoints: {
        type: 'array',
        items: { type: 'number' },
        minItems: 2,
        description: 'explicit keypoints, strictly decreasing, in the schedule time (step index or sigma)',
      },
      snrRange: {
        type: 'array',
        items: { type: 'number', exclusiveMinimum: 0 },
        minItems: 2,
        maxItems: 2,
        description: '[minSnr, maxSnr]: K keypoints evenly spaced in time between these SNRs',
      },
    },
  },
  run(inputs, params, ctx) {
    const model = expectModel(inputs.model, ctx.nodeId);
    const d = model.denoiser;
    if (!d) throw new Error(`node '${ctx.nodeId}': model '${model.name}' is not a diffusion prior`);
    const s = d.schedule;
    let kps: number[];
    if (params.keypoints) {
      if (params.keypoints.length !== params.K && params.K !== 2) {
        throw new Error(
          `node '${ctx.nodeId}': K = ${params.K} but ${params.keypoints.length} keypoints given`,
        );
      }
      kps = params.keypoints;
    } else if (params.snrRange) {
      const [lo, hi] = params.snrRange;
      if (!(lo < hi))
        throw new Error(`node '${ctx.nodeId}': snrRange must be [low, high], got [${lo}, ${hi}]`);
      kps = keypointsBySnr(s, { count: params.K, minSnr: lo, maxSnr: hi });
    } else {
      const table = s.kind === 'vp' ? PAPER_KEYPOINTS.ldm : PAPER_KEYPOINTS.edm;
      const paper = (table as Record<number, readonly number[]>)[params.K];
      if (!paper) {
        throw new Error(
          `node '${ctx.nodeId}': the paper gives keypoints for K = 2 and 4 only; set keypoints or snrRange for K = ${params.K}`,
        );
      }
      kps = [...paper];
    }
    try {
      kps = validateKeypoints(s, kps);
    } catch (e) {
      throw new Error(`node '${ctx.nodeId}': ${e instanceof Error ? e.message : String(e)}`);
    }
    const value: KeypointSchedule = {
      schedule: s.toJSON() as unknown as Record<string, unknown>,
      keypoints: kps,
      info: describeKeypoints(s, kps),
    };
    return { schedule: value };
  },
});
