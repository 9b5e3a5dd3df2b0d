/**
 * The VIPaint-2 chain as a pipeline on the tiny LDM: load -> measure (rotated mask) -> schedule ->
 * posterior-fit (3 iterations) -> ancestral-sample (2 samples) -> dps-refine (3 steps) -> metric
 * and save. Shared by the node tests and the report tests.
 */
export interface TinyVipaintOptions {
  /** Model folder of the tiny LDM (writeTinyLdm). */
  ldm: string;
  /** An image file, folder or glob for `load`. */
  images: string;
  size: number;
  scheduleParams?: string;
  /** Appended to the nodes. */
  extra?: string;
}

export const tinyVipaintPipeline = (o: TinyVipaintOptions): string => `version: 1
name: vipaint-tiny
params: { seed: 3, images: '${o.images}' }
models: { ldm: ${o.ldm} }
nodes:
  img: { type: load, params: { path: '\${images}', size: ${o.size} } }
  ldm: { type: model, params: { path: '\${models.ldm}' } }
  measure: { type: measure.inpaint, inputs: { image: img.image }, params: { mask: rotated } }
  keys: { type: schedule, inputs: { model: ldm.model }, params: ${o.scheduleParams ?? '{}'} }
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
  save: { type: save, inputs: { samples: refine.image, truth: img.image, measurement: measure.measurement } }
${o.extra ?? ''}`;
