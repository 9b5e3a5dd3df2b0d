/** The quality study's tasks: which pipeline each runs and with which params (shared by the study scripts). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const STUDY_TASKS: Record<string, { pipeline: string; sets: string[] }> = {
  rotated: { pipeline: 'pipelines/study/fashion-inpaint.yaml', sets: ['mask=rotated'] },
  random: { pipeline: 'pipelines/study/fashion-inpaint.yaml', sets: ['mask=random'] },
  sr4x: { pipeline: 'pipelines/study/fashion-sr4x.yaml', sets: [] },
  // VIPaint-2 and DPS alone (the study's node ids and seeds: the full study's cache reuses them).
  'rotated-core': { pipeline: 'pipelines/study/fashion-budget.yaml', sets: ['mask=rotated', 'budget=80'] },
  'random-core': { pipeline: 'pipelines/study/fashion-budget.yaml', sets: ['mask=random', 'budget=80'] },
  // The paper's budget: VIPaint-2 50 fit iterations + 400 refinement steps, DPS 550 steps.
  'rotated-paper': { pipeline: 'pipelines/study/fashion-budget.yaml', sets: ['mask=rotated', 'budget=550'] },
  'random-paper': { pipeline: 'pipelines/study/fashion-budget.yaml', sets: ['mask=random', 'budget=550'] },
  // VIPaint-4 at the paper's iterations: 100 x 5 fit calls + 400 refinement steps, beta 10.
  'rotated-paper4': { pipeline: 'pipelines/study/fashion-vipaint4.yaml', sets: ['mask=rotated'] },
  'random-paper4': { pipeline: 'pipelines/study/fashion-vipaint4.yaml', sets: ['mask=random'] },
};
