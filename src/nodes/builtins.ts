/** The built-in node types. Adding a node: write its file in src/nodes/ and list it here. */
import { NodeRegistry } from './registry.js';
import type { NodeDefinition } from './define.js';
import load from './load.js';
import save from './save.js';
import measureInpaint from './measure-inpaint.js';
import measureSr from './measure-sr.js';
import measureBlur from './measure-blur.js';
import reconstructNaive from './reconstruct-naive.js';
import metric from './metric.js';
import model from './model.js';
import encode from './encode.js';
import decode from './decode.js';
import schedule from './schedule.js';
import sample from './sample.js';
import posteriorFit from './posterior-fit.js';
import ancestralSample from './ancestral-sample.js';
import dpsRefine from './dps-refine.js';
import { BASELINE_NODES } from './baselines.js';
import classify from './classify.js';
import context from './context.js';

export const BUILTIN_NODES = [
  load,
  save,
  measureInpaint,
  measureSr,
  measureBlur,
  reconstructNaive,
  metric,
  model,
  encode,
  decode,
  schedule,
  sample,
  posteriorFit,
  ancestralSample,
  dpsRefine,
  classify,
  context,
  ...(BASELINE_NODES as unknown as NodeDefinition[]),
] as unknown as NodeDefinition<never>[];

let registry: NodeRegistry | undefined;

export async function builtinRegistry(): Promise<NodeRegistry> {
  if (!registry) {
    const r = new NodeRegistry();
    for (const def of BUILTIN_NODES) r.register(def);
    registry = r;
  }
  return registry;
}
