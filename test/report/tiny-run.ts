/**
 * A real small run for the report tests: VIPaint-2 inpainting of two photos at 16x16 on the tiny
 * LDM of the network fixtures (3 fit iterations, 2 samples, 3 refinement steps), written to an
 * output folder with run.json, metrics CSVs, loss CSVs and grids. A few seconds of CPU.
 */
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { loadPlan } from '../../src/graph/plan.js';
import { runPlan, type RunResult } from '../../src/runtime/execute.js';
import { initBackend } from '../../src/runtime/backend.js';
import { REPO, tempDir } from '../engine/helpers.js';
import { writeTinyLdm } from '../models/tiny-models.js';

export interface TinyRun {
  dir: string;
  outDir: string;
  result: RunResult;
}

export async function tinyVipaintRun(): Promise<TinyRun> {
  await initBackend('wasm');
  const dir = await tempDir('flow-report-');
  const ldm = await writeTinyLdm(dir);
  const images = path.join(REPO, 'assets/images/64/c*.png'); // camera, chelsea, coffee
  const file = path.join(dir, 'tiny.yaml');
  await writeFile(
    file,
    `version: 1
name: vipaint-tiny
params: { seed: 3, images: '${images}' }
models: { ldm: ${ldm} }
nodes:
  img: { type: load, params: { path: '\${images}', size: 16 } }
  ldm: { type: model, params: { path: '\${models.ldm}' } }
  measure: { type: measure.inpaint, inputs: { image: img.image }, params: { mask: rotated } }
  keys: { type: schedule, inputs: { model: ldm.model } }
  fit:
    type: posterior-fit
    inputs: { model: ldm.model, operator: measure.operator, schedule: keys.schedule }
    params: { iterations: 3, batch: 2 }
  draw: { type: ancestral-sample, inputs: { model: ldm.model, posterior: fit.posterior }, params: { samples: 2 } }
  refine:
    type: dps-refine
    inputs: { model: ldm.model, operator: measure.operator, latent: draw.latent, posterior: fit.posterior }
    params: { steps: 3 }
  score: { type: metric, inputs: { image: refine.image, reference: img.image, mask: measure.mask } }
  save:
    type: save
    inputs: { samples: refine.image, truth: img.image, measurement: measure.measurement, mask: measure.mask }
`,
  );
  const outDir = path.join(dir, 'out');
  const result = await runPlan(await loadPlan(file), { outDir, cache: false }).result;
  return { dir, outDir, result };
}
