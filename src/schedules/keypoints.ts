/**
 * VIPaint keypoints T_e = s(K) > ... > s(1) = T_s: the noise levels at which the variational
 * posterior lives (docs/method.md section 2). The paper places them where SNR is roughly in [0.2, 0.5].
 * Keypoints are given and returned noisiest first, as the paper lists them.
 */
import type { NoiseSchedule } from './types.js';

/** The keypoints the paper uses (appendix E.1). Note the paper's EDM "K = 4" list has five entries. */
export const PAPER_KEYPOINTS = Object.freeze({
  ldm: Object.freeze({ 2: [550, 400], 4: [550, 500, 450, 400] }),
  edm: Object.freeze({ 2: [5, 2], 4: [5, 4, 3.5, 2.5, 2] }),
});

/** `count` keypoints evenly spaced in the schedule's time between SNR `minSnr` and `maxSnr`. */
export function keypointsBySnr(
  schedule: NoiseSchedule,
  options: { count: number; minSnr?: number; maxSnr?: number },
): number[] {
  return schedule.timesBySnr(options.minSnr ?? 0.2, options.maxSnr ?? 0.5, options.count);
}

/**
 * Check explicit keypoints: at least 2, strictly decreasing (noisiest first), each a valid time on
 * the schedule (an integer step on a discrete schedule). Returns a copy; throws one clear error.
 */
export function validateKeypoints(schedule: NoiseSchedule, keypoints: readonly number[]): number[] {
  if (!Array.isArray(keypoints) || keypoints.length < 2) {
    throw new Error(`keypoints: need at least 2 (T_e first, T_s last), got ${JSON.stringify(keypoints)}`);
  }
  keypoints.forEach((t, i) => {
    try {
      schedule.checkTime(t);
      if (!(t >= schedule.tMin && t <= schedule.tMax)) {
        throw new Error(`time ${t} is outside [${schedule.tMin}, ${schedule.tMax}]`);
      }
    } catch (e) {
      throw new Error(`keypoints[${i}] = ${t}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (i > 0 && !(t < (keypoints[i - 1] as number))) {
      throw new Error(
        `keypoints must be strictly decreasing (noisiest first): keypoints[${i - 1}] = ${keypoints[i - 1]}, ` +
          `keypoints[${i}] = ${t}`,
      );
    }
  });
  return [...keypoints];
}

export interface KeypointInfo {
  t: number;
  alpha: number;
  sigma: number;
  snr: number;
}

/** alpha, sigma and SNR at each keypoint, for logs and reports. */
export function describeKeypoints(schedule: NoiseSchedule, keypoints: readonly number[]): KeypointInfo[] {
  return keypoints.map((t) => ({
    t,
    alpha: schedule.alpha(t),
    sigma: schedule.sigma(t),
    snr: schedule.snr(t),
  }));
}
