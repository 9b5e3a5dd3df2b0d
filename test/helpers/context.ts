/** A NodeContext for calling a node's `run` directly in unit tests, recording what the node reported. */
import type { ItemInfo, NodeContext, OutputFile, Progress } from '../../src/nodes/define.js';

export interface RecordingContext extends NodeContext {
  readonly files: OutputFile[];
  readonly progressEvents: Progress[];
  readonly metrics: Record<string, number | number[] | string>;
  readonly calls: { forward: number; gradient: number };
}

export function makeTestContext(
  opts: { nodeId?: string; seed?: number; item?: ItemInfo; baseDir?: string } = {},
): RecordingContext {
  const files: OutputFile[] = [];
  const progressEvents: Progress[] = [];
  const metrics: Record<string, number | number[] | string> = {};
  const calls = { forward: 0, gradient: 0 };
  return {
    nodeId: opts.nodeId ?? 'test',
    baseDir: opts.baseDir ?? process.cwd(),
    seed: opts.seed ?? 1234,
    item: opts.item ?? { key: 'item0', index: 0, meta: {} },
    signal: new AbortController().signal,
    files,
    progressEvents,
    metrics,
    calls,
    progress: (p) => progressEvents.push(p),
    log: () => undefined,
    writeFile: (f) => files.push(f),
    countCalls: (kind, n = 1) => {
      calls[kind] += n;
    },
    reportMetrics: (v) => Object.assign(metrics, v),
  };
}
