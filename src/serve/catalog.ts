/**
 * What the page can choose from: the shipped pipelines, the test images, and for one pipeline the
 * params a person would set (the pipeline's own params and the solver nodes' params, each with
 * its JSON Schema from the node types, as `flow nodes --json` lists them).
 */
import path from 'node:path';
import { glob } from 'tinyglobby';
import type { Plan } from '../graph/plan.js';
import { readPipelineFile } from '../graph/document.js';
import { TEST_IMAGE_GLOBS } from './paths.js';

export interface PipelineEntry {
  /** Path relative to the pipelines folder, '/'-separated: the id the API takes. */
  file: string;
  name: string;
  description?: string;
}

/** Top-level and baseline pipelines (chains are parts, study pipelines run for hours). */
export async function listPipelines(dir: string): Promise<PipelineEntry[]> {
  const files = (await glob(['*.yaml', 'baselines/*.yaml'], { cwd: dir })).sort();
  const out: PipelineEntry[] = [];
  for (const file of files) {
    try {
      const doc = await readPipelineFile(path.join(dir, file));
      out.push({ file, name: doc.name, description: doc.description });
    } catch {
      // A broken file in the folder is not the page's business; `flow validate` reports it.
    }
  }
  return out;
}

export async function listTestImages(assetsDir: string): Promise<string[]> {
  return (await glob(TEST_IMAGE_GLOBS, { cwd: assetsDir })).sort();
}

type Schema = Record<string, unknown>;

export interface ParamField {
  /** Pipeline param name, or 'node.param'. */
  key: string;
  value: unknown;
  schema?: Schema;
}

export interface PipelineDescription {
  name: string;
  description?: string;
  /** The pipeline's params; a param named like a param of one of its nodes borrows that schema. */
  params: ParamField[];
  /** Solver and sampler nodes' params, keyed 'node.param'. */
  nodes: { id: string; type: string; description: string; params: ParamField[] }[];
  /** Nodes the page's image and mask choices feed. */
  loads: string[];
  inpaints: string[];
  order: string[];
}

export function describePlan(plan: Plan): PipelineDescription {
  const nodes = [...plan.nodes.values()];
  const propsOf = (type: string): Record<string, Schema> =>
    (plan.registry.get(type).params.properties ?? {}) as Record<string, Schema>;
  const schemaFor = (name: string): Schema | undefined => {
    for (const n of nodes) {
      const s = propsOf(n.type)[name];
      if (s) return s;
    }
    return undefined;
  };
  const tunable = nodes.filter((n) => ['solver', 'baseline'].includes(n.def.category) || n.type === 'sample');
  return {
    name: plan.name,
    description: plan.description,
    params: Object.entries(plan.params).map(([key, value]) => ({ key, value, schema: schemaFor(key) })),
    nodes: tunable.map((n) => ({
      id: n.id,
      type: n.type,
      description: n.def.description,
      params: Object.entries(propsOf(n.type)).map(([p, schema]) => ({
        key: `${n.id}.${p}`,
        value: n.params[p],
        schema,
      })),
    })),
    loads: nodes.filter((n) => n.type === 'load').map((n) => n.id),
    inpaints: nodes.filter((n) => n.type === 'measure.inpaint').map((n) => n.id),
    order: plan.order,
  };
}
