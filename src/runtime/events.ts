import type { PreviewImage } from '../io/preview.js';

/** What a run reports while it goes: the CLI renders these as progress bars or JSON lines. */
export type FlowEvent =
  | {
      type: 'run-start';
      pipeline: string;
      nodes: string[];
      backend: string;
      /** Per node, the item sources feeding it (none: the node runs once for the whole run). */
      sources?: Record<string, string[]>;
    }
  | { type: 'items'; node: string; count: number }
  | { type: 'node-start'; node: string; item?: string }
  | {
      type: 'progress';
      node: string;
      item?: string;
      step: number;
      total: number;
      message?: string;
      values?: Record<string, number>;
    }
  /** A solver's current decoded prediction (only with the run option `previewEvery`). */
  | ({ type: 'preview'; node: string; item?: string } & PreviewImage)
  | { type: 'node-done'; node: string; item?: string; cached: boolean; ms: number }
  | { type: 'log'; node: string; item?: string; message: string }
  | { type: 'warning'; node?: string; message: string }
  | { type: 'run-done'; ok: boolean; ms: number; outDir?: string };

export interface NodeSummary {
  type: string;
  version: number;
  /** Executions (one per item, or one for run-wide nodes). */
  executions: number;
  cacheHits: number;
  /** Wall time spent in this node's own work (ms), cache lookups included. */
  ms: number;
  calls: { forward: number; gradient: number };
  /** The node's extra cache-key material, e.g. a model folder's or mask file's content digest. */
  inputDigest?: string;
}

/** One metric over the items that reported it: count, mean, standard error, range. */
export interface MetricStat {
  n: number;
  mean: number;
  /** Standard error of the mean (sample standard deviation / sqrt(n)); 0 for a single item. */
  sem: number;
  min: number;
  max: number;
}

/** metricSummary[node][metric], over items. */
export type MetricSummaries = Record<string, Record<string, MetricStat>>;

export interface RunSummary {
  pipeline: {
    name: string;
    file: string;
    sha256: string;
    description?: string;
    /** The pipeline file's text (its sha256 above), for reports and provenance. */
    text?: string;
  };
  params: Record<string, unknown>;
  nodeParams: Record<string, Record<string, unknown>>;
  backend: { name: string; provider: string };
  versions: Record<string, string>;
  started: string;
  ms: number;
  cache: { dir?: string; enabled: boolean; hits: number; misses: number; corrupt: number };
  nodes: Record<string, NodeSummary>;
  /** metrics[node][item] = values reported by that node for that item. */
  metrics: Record<string, Record<string, Record<string, number | number[] | string>>>;
  /** The numeric metrics summarised over items (also in metrics-summary.csv). */
  metricSummary?: MetricSummaries;
  /** The checked graph in Graphviz dot (what `flow graph --format dot` prints). */
  graph?: string;
  files: string[];
}
