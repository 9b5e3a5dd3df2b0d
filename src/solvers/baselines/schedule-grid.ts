/**
 * Time grids for the baselines, per prior kind, and RePaint's jump schedule.
 *
 * A grid of n levels is indexed 0 (least noisy) .. n-1 (noisiest), with index -1 the clean level
 * (alpha = 1, sigma = 0) that every sampler ends on:
 * - discrete VP (N steps): the "respaced" DDPM grid of guided-diffusion / RePaint / CoPaint,
 *   time(i) = round(i (N - 1) / (n - 1)); n = N gives every step;
 * - EDM: the sampler's rho = 7 sigmas (Karras et al. Eq. 5) between sigmaMin and sigmaMax;
 * - VE: the same rho grid in sigma, mapped back to the schedule's time;
 * - continuous VP: evenly spaced in t from tMin to tMax.
 * For EDM priors the paper's "1000 steps" of DPS / Blended are 1000 levels of this rho grid, with
 * the ancestral (VE) step between consecutive levels.
 */
import { EdmSchedule } from '../../schedules/edm.js';
import { CLEAN, type NoiseSchedule, type TimeOrLevel } from '../../schedules/types.js';
import { timeForSigma } from '../../sampling/edm-samplers.js';

/** n increasing times on the schedule: grid[i] is the time of index i. */
export function timeGrid(schedule: NoiseSchedule, n: number): number[] {
  if (!Number.isInteger(n) || n < 1) throw new Error(`timeGrid: need an integer n >= 1, got ${n}`);
  if (schedule.discrete) {
    const total = schedule.numSteps ?? schedule.tMax + 1;
    if (n > total) throw new Error(`timeGrid: ${n} levels do not fit a ${total}-step schedule`);
    if (n === 1) return [schedule.tMax];
    return Array.from({ length: n }, (_, i) => Math.round((i * (total - 1)) / (n - 1)));
  }
  if (schedule.kind === 'vp') {
    if (n === 1) return [schedule.tMax];
    return Array.from(
      { length: n },
      (_, i) => schedule.tMin + (i * (schedule.tMax - schedule.tMin)) / (n - 1),
    );
  }
  const sigmaMin = schedule.sigma(schedule.tMin);
  const sigmaMax = schedule.sigma(schedule.tMax);
  const rho = schedule instanceof EdmSchedule ? schedule.rho : 7;
  const edmGrid = new EdmSchedule({ sigmaMin, sigmaMax, rho });
  // sigmas() runs from sigmaMax down and appends 0; drop the 0 and reverse to increasing.
  const sigmas = edmGrid.sigmas(n).slice(0, n).reverse();
  return sigmas.map((s) => (schedule.kind === 'edm' ? s : timeForSigma(schedule, s)));
}

/** The level of grid index i (-1 = clean). */
export function gridLevel(grid: number[], i: number): TimeOrLevel {
  if (i === -1) return CLEAN;
  const t = grid[i];
  if (t === undefined) throw new Error(`internal: grid index ${i} outside 0..${grid.length - 1}`);
  return t;
}

/**
 * RePaint's time sequence (Lugmayr et al. 2022, `get_schedule_jump` with n_sample = 1 as in their
 * configs): start at index tT - 1, step down one index at a time; each time the walk reaches an index
 * j in {0, L, 2L, ...} below tT - L for which jumps remain (each has jumpNSample - 1), go back up L
 * indices one at a time (forward noising) and walk down again. Ends with -1 (the clean level).
 * Consecutive entries differ by exactly one; a decrease is a reverse (network) step, an increase a
 * forward-noising step. CoPaint-TT's `ddim_repaint_timesteps` is the same walk without the final -1.
 */
export function jumpSchedule(tT: number, jumpLength: number, jumpNSample: number): number[] {
  for (const [v, name] of [
    [tT, 'tT'],
    [jumpLength, 'jumpLength'],
    [jumpNSample, 'jumpNSample'],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new Error(`jumpSchedule: ${name} must be an integer >= 1, got ${v}`);
  }
  const jumps = new Map<number, number>();
  for (let j = 0; j < tT - jumpLength; j += jumpLength) jumps.set(j, jumpNSample - 1);
  const ts: number[] = [];
  let t = tT;
  while (t >= 1) {
    t -= 1;
    ts.push(t);
    const left = jumps.get(t) ?? 0;
    if (left > 0) {
      jumps.set(t, left - 1);
      for (let k = 0; k < jumpLength; k++) {
        t += 1;
        ts.push(t);
      }
    }
  }
  ts.push(-1);
  return ts;
}

/** Number of reverse (network) steps of a jump schedule: its decreasing pairs. */
export function reverseStepCount(schedule: number[]): number {
  let n = 0;
  for (let i = 1; i < schedule.length; i++) if ((schedule[i] as number) < (schedule[i - 1] as number)) n++;
  return n;
}
