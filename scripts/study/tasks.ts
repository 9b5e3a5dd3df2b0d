/** The quality study's tasks: which pipeline each runs and with which params (shared by the study scripts). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const STUDY_TASKS: Record<string, { pipeline: string; sets: string[] }> = {
  rotated: { pipeline: 'pipelines/study/fashion-inpaint.yaml', sets: ['mask=rotated'] },
  random: { pipeline: 'pipelines/study/fashion-inpaint.yaml', sets: ['mask=random'] },
  sr4x: { pipeline: 'pipelines/study/fashion-sr4x.yaml', sets: [] },
};
