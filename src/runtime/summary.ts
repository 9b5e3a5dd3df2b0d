/** The skeleton of run.json: what ran, with which params, on which backend and versions. */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import type { Plan } from '../graph/plan.js';
import type { RunSummary } from './events.js';
import type { StageCache } from './cache.js';
import { currentBackend } from './backend.js';
import { toDot } from '../graph/graph.js';

const require = createRequire(import.meta.url);

export function flowVersion(): string {
  try {
    return (require('../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function runSummaryBase(plan: Plan, cache: StageCache | false): RunSummary {
  const backend = currentBackend();
  const nodes: RunSummary['nodes'] = {};
  const nodeParams: RunSummary['nodeParams'] = {};
  for (const id of plan.order) {
    const n = plan.nodes.get(id);
    if (!n) continue;
    nodes[id] = {
      type: n.type,
      version: n.def.version,
      executions: 0,
      cacheHits: 0,
      ms: 0,
      calls: { forward: 0, gradient: 0 },
    };
    nodeParams[id] = n.params;
  }
  return {
    pipeline: {
      name: plan.name,
      file: plan.file,
      sha256: plan.digest,
      description: plan.description,
      text: plan.text,
    },
    params: plan.params,
    nodeParams,
    backend: { name: backend?.name ?? tf.getBackend(), provider: backend?.provider ?? 'unknown' },
    versions: { flow: flowVersion(), tfjs: tf.version.tfjs, node: process.versions.node },
    started: new Date().toISOString(),
    ms: 0,
    cache: { dir: cache ? cache.dir : undefined, enabled: cache !== false, hits: 0, misses: 0, corrupt: 0 },
    nodes,
    metrics: {},
    graph: toDot(plan.nodes, plan.graph),
    files: [],
  };
}
