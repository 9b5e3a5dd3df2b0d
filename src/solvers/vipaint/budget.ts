/**
 * VIPaint's budget split (docs/method.md "Budget"): the paper spends 150 of its 550 network calls
 * per image on the fit (50 iterations x 3 calls for K = 2) and 400 on refinement, 27 % / 73 %.
 * Given a budget of differentiated network calls per image, the fit gets round(share x budget /
 * (K + 1)) iterations (at least 1) and the refinement every call left. The K - 1 forward calls of
 * the ancestral draw are not counted (they are not differentiated, and are the same for any split).
 */

/** The paper's fit share: 150 / 550. */
export const PAPER_FIT_SHARE = 150 / 550;

export interface BudgetSplit {
  iterations: number;
  fitCalls: number;
  refineSteps: number;
}

export function splitBudget(budget: number, k: number, fitShare = PAPER_FIT_SHARE): BudgetSplit {
  if (!Number.isInteger(budget) || budget < 1)
    throw new Error(`vipaint: budget must be an integer >= 1, got ${budget}`);
  if (!(fitShare > 0 && fitShare < 1))
    throw new Error(`vipaint: fitShare must be in (0, 1), got ${fitShare}`);
  const iterations = Math.max(1, Math.round((fitShare * budget) / (k + 1)));
  const fitCalls = iterations * (k + 1);
  const refineSteps = budget - fitCalls;
  if (refineSteps < 1) {
    throw new Error(
      `vipaint: a budget of ${budget} calls leaves no refinement step after ${iterations} fit iteration(s) of ${k + 1} calls`,
    );
  }
  return { iterations, fitCalls, refineSteps };
}

/** Refinement steps that leave a budget's remainder after a fit that made `fitCalls` differentiated calls. */
export function refineStepsLeft(budget: number, fitCalls: number): number {
  if (!Number.isInteger(budget) || budget < 1)
    throw new Error(`vipaint: budget must be an integer >= 1, got ${budget}`);
  const left = budget - fitCalls;
  if (left < 1) throw new Error(`vipaint: the fit used ${fitCalls} calls, the whole budget of ${budget}`);
  return left;
}
