/**
 * flow as a library: load and check a pipeline, run it, watch its events as an RxJS Observable,
 * and get outputs back.
 *
 *   const plan = await loadPipeline('pipelines/measure-demo.yaml', { overrides: ['samples=2'] });
 *   const run = runPipeline(plan, { keep: ['metric.metrics'] });
 *   run.events$.subscribe((e) => console.log(e.type));
 *   const { outputs, summary } = await run.result;
 */
export { loadPlan as loadPipeline, type Plan, type PlanNode, type LoadOptions } from './graph/plan.js';
export {
  runPlan as runPipeline,
  type RunOptions,
  type RunResult,
  type RunHandle,
} from './runtime/execute.js';
export { StageCache } from './runtime/cache.js';
export { initBackend, type BackendName, type BackendInfo } from './runtime/backend.js';
export type { FlowEvent, RunSummary, MetricStat, MetricSummaries } from './runtime/events.js';
export type { PreviewImage } from './io/preview.js';
export { FlowError, AbortedError } from './graph/errors.js';
export { defineNode, type NodeDefinition, type NodeContext, type PortType } from './nodes/define.js';
export { NodeRegistry } from './nodes/registry.js';
export { builtinRegistry } from './nodes/builtins.js';
export { toMermaid, toDot } from './graph/graph.js';
export { summariseMetrics, describeValues } from './runtime/metric-summary.js';
export { dotToSvg } from './report/graph-svg.js';
export { renderRunReport } from './report/run-report.js';
export { readRunFolder, type RunFiles, type RunRecord } from './report/run-folder.js';
