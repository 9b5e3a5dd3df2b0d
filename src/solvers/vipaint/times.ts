/**
 * Time grids the VIPaint solver walks: the grid above T_e on which the prior term's one random time
 * is drawn, and the refinement times from T_s down to the clean end.
 *
 * Continuous schedules (VE, EDM, continuous VP) use Karras et al.'s rho = 7 spacing of the
 * noise-to-signal ratio sigma/alpha (for VE/EDM: sigma itself), as the paper's appendix E.1 says it
 * does for the prior loss; a discrete VP schedule uses its own integer steps.
 */
import { EdmSchedule } from '../../schedules/edm.js';
import type { NoiseSchedule } from '../../schedules/types.js';

/** n values from `from` to `to` (either order) spaced by the rho rule on their 1/rho powers. */
export function rhoSpacing(from: number, to: number, n: number, rho = 7): number[] {
  if (!Number.isInteger(n) || n < 2) throw new Error(`rhoSpacing: need n >= 2, got ${n}`);
  const a = Math.pow(from, 1 / rho);
  const b = Math.pow(to, 1 / rho);
  return Array.from({ length: n }, (_, i) => Math.pow(a + (i / (n - 1)) * (b - a), rho));
}

/** The schedule time whose noise-to-signal ratio sigma/alpha equals `nsr`. */
export function timeAtNoiseRatio(schedule: NoiseSchedule, nsr: number): number {
  if (schedule instanceof EdmSchedule) return nsr;
  return schedule.timeAtLogSnr(-2 * Math.log(nsr));
}

function noiseRatio(schedule: NoiseSchedule, t: number): number {
  const l = schedule.level(t);
  return l.sigma / l.alpha;
}

/** Remove consecutive duplicates (rounding to integer steps can create them). */
function strictlyMonotone(times: number[], increasing: boolean): number[] {
  const out: number[] = [];
  for (const t of times) {
    const last = out[out.length - 1];
    if (last === undefined || (increasing ? t > last : t < last)) out.push(t);
  }
  return out;
}

export interface PriorGridOptions {
  /** Grid points for continuous schedules, T_e included (default 1000, as the authors' discretisation). */
  size?: number;
  rho?: number;
}

/**
 * Increasing times g_0 = T_e < g_1 < ... < g_M = tMax above T_e. The prior term sums one KL per
 * transition (g_{j-1} <- g_j) for j = 2..M: the first transition (T_e <- g_1) is the
 * reconstruction-like term -log p(z_{T_e} | z_{g_1}) of the paper's Eq. 37, which is not a KL
 * between two Gaussians (q(z_{T_e} | z_{g_1}, z_{T_e}) is a point mass) and is left out, as the
 * paper's estimator (Eq. 39) and the authors' code (which also skips the times nearest T_e) do.
 */
export function priorGrid(schedule: NoiseSchedule, te: number, options: PriorGridOptions = {}): number[] {
  schedule.checkTime(te);
  let grid: number[];
  if (schedule.discrete) {
    grid = [];
    for (let t = te; t <= schedule.tMax; t++) grid.push(t);
  } else {
    const size = options.size ?? 1000;
    if (!Number.isInteger(size) || size < 3)
      throw new Error(`priorGrid: size must be an integer >= 3, got ${size}`);
    const ratios = rhoSpacing(
      noiseRatio(schedule, te),
      noiseRatio(schedule, schedule.tMax),
      size,
      options.rho ?? 7,
    );
    grid = ratios.map((r) => timeAtNoiseRatio(schedule, r));
    grid[0] = te;
    grid[grid.length - 1] = schedule.tMax;
    grid = strictlyMonotone(grid, true);
  }
  if (grid.length < 3) {
    throw new Error(
      `vipaint: T_e = ${te} is too close to the end of the schedule (${schedule.tMax}): the prior term ` +
        `needs at least two transitions above T_e`,
    );
  }
  return grid;
}

/**
 * `steps` decreasing times from `from` (T_s) towards the clean end, for refinement: each is one
 * network call, and the step after the last goes to the clean level. Discrete: evenly spaced integer
 * steps from `from` (every step when steps = from + 1); continuous: rho spacing down to tMin.
 */
export function refineTimes(schedule: NoiseSchedule, from: number, steps: number, rho = 7): number[] {
  if (!Number.isInteger(steps) || steps < 1)
    throw new Error(`refine: steps must be an integer >= 1, got ${steps}`);
  schedule.checkTime(from);
  if (steps === 1) return [from];
  let times: number[];
  if (schedule.discrete) {
    if (steps > from + 1) {
      throw new Error(`refine: ${steps} steps do not fit below T_s = ${from} (at most ${from + 1})`);
    }
    times = Array.from({ length: steps }, (_, i) => Math.round(from - (i * from) / (steps - 1)));
  } else {
    const ratios = rhoSpacing(noiseRatio(schedule, from), noiseRatio(schedule, schedule.tMin), steps, rho);
    times = ratios.map((r) => timeAtNoiseRatio(schedule, r));
    times[0] = from;
  }
  const out = strictlyMonotone(times, false);
  if (out.length !== steps) throw new Error(`refine: ${steps} distinct steps do not fit below T_s = ${from}`);
  return out;
}
