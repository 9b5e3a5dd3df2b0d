/**
 * A real small run for the report tests: VIPaint-2 inpainting of three photos at 16x16 on the tiny
 * LDM of the network fixtures (3 fit iterations, 2 samples, 3 refinement steps), written to an
 * output folder with run.json, metrics CSVs, loss CSVs and grids. A few seconds of CPU.
 */
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { loadPlan } from '../../src/graph/plan.js';
import { runPlan, type RunResult } from '../../src/runtime/execute.js';
import { initBackend } from '../../src/runtime/backend.js';
import { REPO, tempDir } from '../engine/helpers.js';
import { withLikelihoodScale, writeTinyLdm } from '../models/tiny-models.js';
import { tinyVipaintPipeline } from '../models/tiny-vipaint.js';

export interface TinyRun {
  dir: string;
  outDir: string;
  result: RunResult;
}

export async function tinyVipaintRun(): Promise<TinyRun> {
  await initBackend('wasm');
  const dir = await tempDir('flow-report-');
  const ldm = await withLikelihoodScale(await writeTinyLdm(dir));
  const images = path.join(REPO, 'assets/images/64/c*.png'); // camera, chelsea, coffee
  const file = path.join(dir, 'tiny.yaml');
  await writeFile(file, tinyVipaintPipeline({ ldm, images, size: 16 }));
  const outDir = path.join(dir, 'out');
  const result = await runPlan(await loadPlan(file), { outDir, cache: false }).result;
  return { dir, outDir, result };
}
