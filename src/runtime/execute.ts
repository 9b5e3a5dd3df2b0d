/**
 * Running a plan with RxJS. Each node becomes an Observable of results: run-wide nodes (all
 * inputs constant) emit once and replay; per-item nodes emit one result per item, their per-item
 * inputs joined by item key. Sources enumerate items cheaply and admit at most
 * `maxItemsInFlight` at a time, so a long glob streams instead of loading at once. Independent
 * branches subscribe to the same upstream and run concurrently.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import {
  Observable,
  Subject,
  concatMap,
  defer,
  forkJoin,
  from,
  lastValueFrom,
  map,
  merge,
  mergeMap,
  of,
  share,
  shareReplay,
  toArray,
  takeUntil,
  fromEvent,
  finalize,
} from 'rxjs';
import type { Plan, PlanNode } from '../graph/plan.js';
import { AbortedError, FlowError } from '../graph/errors.js';
import type { ItemDescriptor, ItemInfo, NodeContext, OutputFile, Progress } from '../nodes/define.js';
import { hashSeed } from '../util/random.js';
import { StageCache, cacheKey, type EntryReport } from './cache.js';
import { ValueHandle, Semaphore } from './handle.js';
import { NotCacheableError, decodeValues, encodeValues, tensorsIn, disposeValue } from './values.js';
import type { FlowEvent, NodeSummary, RunSummary } from './events.js';
import { OutputWriter } from './output.js';
import { describeStep, findNonFinite } from './finite.js';
import { codeIdentity } from './code-identity.js';
import { currentBackend } from './backend.js';
import { flowVersion, runSummaryBase } from './summary.js';
import { stampOutputFile } from './provenance.js';
import { summariseMetrics } from './metric-summary.js';
import { metricSummaryCsv, metricsCsv } from './metric-csv.js';
import type { PreviewSink } from '../io/preview.js';

export interface RunOptions {
  /** Output folder; without it files are returned in the result instead of written. */
  outDir?: string;
  /** The stage cache, or false to run everything. Default: a memory-only cache. */
  cache?: StageCache | false;
  signal?: AbortSignal;
  /** `node.port` values to hand back in the result (the caller then owns their tensors). */
  keep?: string[];
  maxItemsInFlight?: number;
  /** Items one node processes at once (default 1). */
  concurrency?: number;
  /** Solvers emit a `preview` event (decoded prediction) every this many steps; off by default. */
  previewEvery?: number;
}

export interface RunResult {
  summary: RunSummary;
  /** outputs['node.port'] maps item key ('' for run-wide values) to the value. */
  outputs: Record<string, Map<string, unknown>>;
  /** Files produced, when no outDir was given. */
  files: OutputFile[];
}

export interface RunHandle {
  events$: Observable<FlowEvent>;
  result: Promise<RunResult>;
  abort(): void;
}

interface Result {
  item?: ItemInfo;
  /** Sources of the item, to return their in-flight slots when every downstream node is done with it. */
  sources: string[];
  outputs: Record<string, ValueHandle>;
}

interface NodeRuntime {
  node: PlanNode;
  perItem: boolean;
  stream: Observable<Result>;
}

export function runPlan(plan: Plan, opts: RunOptions = {}): RunHandle {
  const events = new Subject<FlowEvent>();
  const controller = new AbortController();
  const onOuterAbort = (): void => controller.abort();
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const result = (async () => {
    await Promise.resolve(); // let the caller subscribe to events first
    try {
      return await execute(plan, opts, events, controller);
    } finally {
      opts.signal?.removeEventListener('abort', onOuterAbort);
      events.complete();
    }
  })();
  return { events$: events.asObservable(), result, abort: () => controller.abort() };
}

async function execute(
  plan: Plan,
  opts: RunOptions,
  events: Subject<FlowEvent>,
  controller: AbortController,
): Promise<RunResult> {
  const started = Date.now();
  const signal = controller.signal;
  const every = opts.previewEvery;
  if (every !== undefined && !(Number.isInteger(every) && every >= 0))
    throw new FlowError(`previewEvery must be a non-negative integer, got ${every}`);
  const cache = opts.cache === undefined ? new StageCache() : opts.cache;
  const writer = opts.outDir ? new OutputWriter(opts.outDir, plan.name) : undefined;
  const memoryFiles: OutputFile[] = [];
  const summary = runSummaryBase(plan, cache);
  const backend = currentBackend();
  const emit = (e: FlowEvent): void => events.next(e);

  const runSeed = Number(plan.params.seed ?? 0);
  const keep = new Set(opts.keep ?? []);
  const kept: Record<string, Map<string, ValueHandle>> = {};
  for (const k of keep) {
    const [n, p] = [k.slice(0, k.lastIndexOf('.')), k.slice(k.lastIndexOf('.') + 1)];
    if (!plan.nodes.get(n)?.def.outputs[p]) throw new FlowError(`keep: '${k}' names no node output`);
    kept[k] = new Map();
  }
  const consumers = new Map<string, number>(); // 'node.port' -> number of wired inputs (+1 if kept)
  for (const n of plan.nodes.values()) {
    for (const ref of Object.values(n.inputs)) {
      const k = `${ref.node}.${ref.port}`;
      consumers.set(k, (consumers.get(k) ?? 0) + 1);
    }
  }
  for (const k of keep) consumers.set(k, (consumers.get(k) ?? 0) + 1);

  const live = new Set<ValueHandle>();
  const inflight = new Set<Promise<unknown>>();
  const warnedCorrupt = new Set<string>();
  const extraKeys = new Map<string, Promise<string | undefined>>();
  const runtimes = new Map<string, NodeRuntime>();
  const perItemDownstream = new Map<string, number>(); // source -> number of per-item nodes fed by it
  const itemCounters = new Map<string, number>(); // `${source}\0${key}` -> remaining nodes
  const semaphores = new Map<string, Semaphore>();

  const stats = (id: string): NodeSummary => summary.nodes[id] as NodeSummary;

  const makeHandle = (
    digest: string,
    refs: number,
    loader?: () => Promise<unknown>,
    value?: unknown,
  ): ValueHandle => {
    const h = new ValueHandle(digest, refs, loader, value, (disposed) => live.delete(disposed));
    if (!h.isDisposed) live.add(h);
    return h;
  };

  const itemDone = (sources: string[], key: string | undefined): void => {
    if (key === undefined) return;
    for (const s of sources) {
      const ck = `${s}\0${key}`;
      const left = (itemCounters.get(ck) ?? 0) - 1;
      if (left <= 0) {
        itemCounters.delete(ck);
        semaphores.get(s)?.release();
      } else itemCounters.set(ck, left);
    }
  };

  /** Run (or fetch from cache) one node for one item (or once). */
  const runUnit = async (
    n: PlanNode,
    item: ItemInfo | undefined,
    itemDigest: string | undefined,
    inputs: Record<string, ValueHandle>,
    sources: string[],
    constantPorts: Set<string> = new Set(),
  ): Promise<Result> => {
    if (signal.aborted) throw new AbortedError();
    const t0 = Date.now();
    const st = stats(n.id);
    emit({ type: 'node-start', node: n.id, item: item?.key });
    const seed = hashSeed(hashSeed(runSeed, n.id), item?.key ?? '');
    if (!extraKeys.has(n.id)) {
      extraKeys.set(
        n.id,
        Promise.resolve(
          n.def.cacheKey ? n.def.cacheKey(n.params as never, { baseDir: n.baseDir }) : undefined,
        ),
      );
    }
    const extra = await extraKeys.get(n.id);
    if (extra !== undefined) st.inputDigest = extra;
    const inputDigests: Record<string, string> = {};
    for (const [p, h] of Object.entries(inputs)) inputDigests[p] = h.digest;
    const material = {
      type: n.type,
      version: n.def.version,
      code: codeIdentity(n.def.source),
      params: keyParams(n, item !== undefined && itemDigest !== undefined),
      inputs: inputDigests,
      seed,
      extra,
      item: itemDigest,
    };
    const key = cacheKey(material);
    const digestOf = (port: string): string => createHash('sha256').update(`${key}:${port}`).digest('hex');
    const refsOf = (port: string): number => consumers.get(`${n.id}.${port}`) ?? 0;
    const cacheable = cache !== false && n.def.cache !== false;
    const report: EntryReport = { calls: { forward: 0, gradient: 0 } };
    const recordMetrics = (v: Record<string, number | number[] | string>): void => {
      const m = (summary.metrics[n.id] ??= {});
      m[item?.key ?? ''] = { ...(m[item?.key ?? ''] ?? {}), ...v };
    };
    // Run-wide inputs of a per-item node are released when the node's stream ends, not per item.
    const releaseInputs = (): void => {
      for (const [p, h] of Object.entries(inputs)) if (!item || !constantPorts.has(p)) h.release();
    };
    const finish = async (
      outputs: Record<string, ValueHandle>,
      cached: boolean,
      files: OutputFile[],
    ): Promise<Result> => {
      const provenance = {
        pipeline: plan.name,
        pipelineSha256: plan.digest,
        node: n.id,
        item: item?.key,
        seed,
        params: n.params,
        flowVersion: flowVersion(),
      };
      for (const f of files.map((file) => stampOutputFile(file, provenance))) {
        if (writer) writer.write(f);
        else memoryFiles.push(f);
      }
      for (const [port, h] of Object.entries(outputs)) kept[`${n.id}.${port}`]?.set(item?.key ?? '', h);
      const ms = Date.now() - t0;
      st.executions++;
      st.ms += ms;
      if (cached) st.cacheHits++;
      emit({ type: 'node-done', node: n.id, item: item?.key, cached, ms });
      return { item, sources, outputs };
    };

    if (cacheable) {
      const found = await cache.get(key);
      if (found.status === 'corrupt' && !warnedCorrupt.has(n.id)) {
        warnedCorrupt.add(n.id);
        summary.cache.corrupt++;
        emit({
          type: 'warning',
          node: n.id,
          message: `corrupt cache entry for node '${n.id}' (${found.reason}): removed, recomputing`,
        });
      }
      if (found.status === 'hit') {
        summary.cache.hits++;
        releaseInputs();
        const entry = found.entry;
        const tree = entry.values.tree as Record<string, unknown>;
        const outputs: Record<string, ValueHandle> = {};
        for (const port of Object.keys(n.def.outputs)) {
          // Each port decodes on its own, and only if a consumer actually needs the value.
          outputs[port] = makeHandle(digestOf(port), refsOf(port), async () => {
            const one = await decodeValues({ ...entry.values, tree: { [port]: tree[port] } });
            return one[port];
          });
        }
        st.calls.forward += entry.report.calls.forward;
        st.calls.gradient += entry.report.calls.gradient;
        if (entry.report.metrics) recordMetrics(entry.report.metrics);
        return finish(outputs, true, entry.files);
      }
      summary.cache.misses++;
    }

    const values: Record<string, unknown> = {};
    for (const [p, h] of Object.entries(inputs)) values[p] = await h.get();
    const files: OutputFile[] = [];
    let lastProgress: Progress | undefined;
    const ctx: NodeContext = {
      nodeId: n.id,
      baseDir: n.baseDir,
      seed,
      item,
      signal,
      progress: (p) => {
        lastProgress = p;
        emit({ type: 'progress', node: n.id, item: item?.key, ...p });
      },
      preview: previewSink(opts.previewEvery, (image) =>
        emit({ type: 'preview', node: n.id, item: item?.key, ...image }),
      ),
      log: (message) => emit({ type: 'log', node: n.id, item: item?.key, message }),
      writeFile: (f) => files.push(f),
      countCalls: (kind, count = 1) => {
        st.calls[kind] += count;
        report.calls[kind] += count;
      },
      reportMetrics: (v) => {
        recordMetrics(v);
        report.metrics = { ...(report.metrics ?? {}), ...v };
      },
    };
    let out: Record<string, unknown>;
    try {
      out = await n.def.run(values, n.params as never, ctx);
    } catch (e) {
      if (signal.aborted) throw new AbortedError();
      throw wrapNodeError(n, item, e);
    }
    if (signal.aborted) {
      disposeValue(out);
      throw new AbortedError();
    }
    for (const port of Object.keys(n.def.outputs)) {
      if (!(port in out)) {
        disposeValue(out);
        throw new FlowError(`node '${n.id}' (${n.type}) did not produce its output '${port}'`, n.loc);
      }
    }
    const nonFinite = n.def.finiteOutputs ? await findNonFinite(out) : undefined;
    if (nonFinite) {
      disposeValue(out);
      throw wrapNodeError(
        n,
        item,
        new Error(
          `output '${nonFinite.port}' has ${nonFinite.count} non-finite values (NaN or infinity)${describeStep(lastProgress)}; nothing of it is saved`,
        ),
      );
    }
    detachFromInputs(out, values);
    releaseInputs();
    if (cacheable) {
      try {
        const enc = await encodeValues(out);
        const problem = await cache.put({
          key,
          node: n.id,
          type: n.type,
          created: new Date().toISOString(),
          values: enc,
          files,
          report,
          material,
        });
        if (problem) emit({ type: 'warning', node: n.id, message: problem });
      } catch (e) {
        if (!(e instanceof NotCacheableError)) throw e;
        emit({
          type: 'warning',
          node: n.id,
          message: `outputs of '${n.id}' are not cacheable: ${e.message}`,
        });
      }
    }
    const outputs: Record<string, ValueHandle> = {};
    for (const port of Object.keys(n.def.outputs))
      outputs[port] = makeHandle(digestOf(port), refsOf(port), undefined, out[port]);
    return finish(outputs, false, files);
  };

  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight.add(p);
    p.then(
      () => inflight.delete(p),
      () => inflight.delete(p),
    );
    return p;
  };

  // Which sources feed each node (per-item-ness follows from it).
  const sourcesOf = new Map<string, string[]>();
  for (const id of plan.order) {
    const n = plan.nodes.get(id) as PlanNode;
    const s = new Set<string>();
    if (n.def.items) s.add(id);
    for (const ref of Object.values(n.inputs)) for (const x of sourcesOf.get(ref.node) ?? []) s.add(x);
    sourcesOf.set(id, [...s].sort());
    for (const x of s) perItemDownstream.set(x, (perItemDownstream.get(x) ?? 0) + 1);
  }
  emit({
    type: 'run-start',
    pipeline: plan.name,
    nodes: plan.order,
    backend: backend?.name ?? tf.getBackend(),
    sources: Object.fromEntries(sourcesOf),
  });
  const inFlight = opts.maxItemsInFlight ?? 4;
  const concurrency = opts.concurrency ?? 1;

  for (const id of plan.order) {
    const n = plan.nodes.get(id) as PlanNode;
    const sources = sourcesOf.get(id) as string[];
    const perItem = sources.length > 0;
    const constantPorts = Object.entries(n.inputs).filter(
      ([, r]) => !(runtimes.get(r.node) as NodeRuntime).perItem,
    );
    const itemPorts = Object.entries(n.inputs).filter(
      ([, r]) => (runtimes.get(r.node) as NodeRuntime).perItem,
    );
    const constantSet = new Set(constantPorts.map(([p]) => p));
    // A per-item node holds its run-wide inputs until its stream ends.
    let constantsHeld: Record<string, ValueHandle> | undefined;
    const releaseConstants = (): void => {
      if (constantsHeld) for (const h of Object.values(constantsHeld)) h.release();
      constantsHeld = undefined;
    };
    const constants$: Observable<Record<string, ValueHandle>> = constantPorts.length
      ? forkJoin(
          Object.fromEntries(
            constantPorts.map(([port, r]) => [
              port,
              (runtimes.get(r.node) as NodeRuntime).stream.pipe(
                map((res) => res.outputs[r.port] as ValueHandle),
              ),
            ]),
          ),
        )
      : of({});
    const heldConstants$ = constants$.pipe(
      map((c) => {
        constantsHeld ??= c;
        return c;
      }),
    );
    let stream: Observable<Result>;
    if (n.def.items) {
      const sem = new Semaphore(inFlight);
      semaphores.set(id, sem);
      stream = defer(async () => {
        const { item: _i, ...baseCtx } = baseContext(n, runSeed, signal, emit);
        const list: ItemDescriptor[] = [];
        for await (const d of (await n.def.items?.(n.params as never, baseCtx)) ?? []) list.push(d);
        checkUniqueKeys(n, list);
        emit({ type: 'items', node: id, count: list.length });
        return list.map((d, index) => ({ d, index }));
      }).pipe(
        mergeMap((list) => from(list)),
        concatMap(async (x) => {
          await sem.acquire();
          for (const s of [id]) itemCounters.set(`${s}\0${x.d.key}`, perItemDownstream.get(s) ?? 1);
          return x;
        }),
        mergeMap(
          ({ d, index }) =>
            heldConstants$.pipe(
              mergeMap((consts) => {
                const info: ItemInfo = { key: d.key, index, meta: d.meta ?? {} };
                return from(
                  track(
                    runUnit(n, info, d.digest, consts, [id], constantSet).finally(() =>
                      itemDone([id], d.key),
                    ),
                  ),
                );
              }),
            ),
          concurrency,
        ),
        finalize(releaseConstants),
        share(),
      );
    } else if (!perItem) {
      stream = constants$.pipe(
        mergeMap((consts) => from(track(runUnit(n, undefined, undefined, consts, [])))),
        shareReplay({ bufferSize: 1, refCount: false }),
      );
    } else {
      const upstreamIds = [...new Set(itemPorts.map(([, r]) => r.node))];
      const joined$ = joinByKey(
        n,
        upstreamIds.map((u) => (runtimes.get(u) as NodeRuntime).stream),
        upstreamIds,
      );
      stream = joined$.pipe(
        mergeMap(
          (results) =>
            heldConstants$.pipe(
              mergeMap((consts) => {
                const byNode = new Map(upstreamIds.map((u, i) => [u, results[i] as Result]));
                const handles: Record<string, ValueHandle> = { ...consts };
                for (const [port, r] of itemPorts)
                  handles[port] = (byNode.get(r.node) as Result).outputs[r.port] as ValueHandle;
                const first = results[0] as Result;
                return from(
                  track(
                    runUnit(n, first.item, undefined, handles, sources, constantSet).finally(() =>
                      itemDone(sources, first.item?.key),
                    ),
                  ),
                );
              }),
            ),
          concurrency,
        ),
        finalize(releaseConstants),
        share(),
      );
    }
    runtimes.set(id, { node: n, perItem, stream });
  }

  const abort$ = fromEvent(signal, 'abort');
  try {
    if (writer) await writer.open();
    const all$ = merge(
      ...plan.order.map((id) => (runtimes.get(id) as NodeRuntime).stream.pipe(map(() => id))),
    );
    await lastValueFrom(all$.pipe(takeUntil(abort$), toArray()));
    if (signal.aborted) throw new AbortedError();
    const ms = Date.now() - started;
    summary.ms = ms;
    summary.metricSummary = summariseMetrics(summary.metrics);
    if (writer && Object.keys(summary.metrics).length > 0) {
      writer.write({ path: 'metrics.csv', bytes: Buffer.from(metricsCsv(summary.metrics)) });
      writer.write({
        path: 'metrics-summary.csv',
        bytes: Buffer.from(metricSummaryCsv(summary.metricSummary)),
      });
    }
    summary.files = writer ? writer.files() : memoryFiles.map((f) => f.path).sort();
    if (writer) {
      writer.write({
        path: 'run.json',
        bytes: Buffer.from(
          JSON.stringify({ ...summary, files: [...summary.files, 'run.json'].sort() }, null, 2) + '\n',
        ),
      });
      await writer.commit();
    }
    emit({ type: 'run-done', ok: true, ms, outDir: writer?.target });
    const outputs: Record<string, Map<string, unknown>> = {};
    for (const [k, m] of Object.entries(kept)) {
      const values = new Map<string, unknown>();
      for (const [item, h] of m) values.set(item, await h.take());
      outputs[k] = values;
    }
    return { summary, outputs, files: memoryFiles };
  } catch (e) {
    controller.abort();
    await Promise.allSettled([...inflight]);
    await writer?.discard();
    emit({ type: 'run-done', ok: false, ms: Date.now() - started });
    throw e;
  } finally {
    for (const h of [...live]) h.dispose();
  }
}

/** The sink handed to nodes: none when previews are off (`previewEvery` unset or 0). */
function previewSink(every: number | undefined, emit: PreviewSink['emit']): PreviewSink | undefined {
  return every ? { every, emit } : undefined;
}

function baseContext(
  n: PlanNode,
  runSeed: number,
  signal: AbortSignal,
  emit: (e: FlowEvent) => void,
): NodeContext {
  return {
    nodeId: n.id,
    baseDir: n.baseDir,
    seed: hashSeed(runSeed, n.id),
    signal,
    progress: (p) => emit({ type: 'progress', node: n.id, ...p }),
    log: (message) => emit({ type: 'log', node: n.id, message }),
    writeFile: () => {
      throw new Error('items() cannot write files');
    },
    countCalls: () => undefined,
    reportMetrics: () => undefined,
  };
}

function checkUniqueKeys(n: PlanNode, list: ItemDescriptor[]): void {
  const seen = new Set<string>();
  for (const d of list) {
    if (seen.has(d.key)) throw new FlowError(`node '${n.id}' produced two items with key '${d.key}'`, n.loc);
    seen.add(d.key);
  }
}

/** Zip several per-item streams by item key; complain about items that reach only some of them. */
function joinByKey(n: PlanNode, streams: Observable<Result>[], ids: string[]): Observable<Result[]> {
  if (streams.length === 1) return (streams[0] as Observable<Result>).pipe(map((r) => [r]));
  return new Observable<Result[]>((sub) => {
    const pending = new Map<string, (Result | undefined)[]>();
    const s = merge(...streams.map((st, i) => st.pipe(map((r) => [i, r] as const)))).subscribe({
      next: ([i, r]) => {
        const key = r.item?.key ?? '';
        const slot = pending.get(key) ?? new Array<Result | undefined>(streams.length).fill(undefined);
        slot[i] = r;
        if (slot.every((x) => x !== undefined)) {
          pending.delete(key);
          sub.next(slot as Result[]);
        } else pending.set(key, slot);
      },
      error: (e) => sub.error(e),
      complete: () => {
        if (pending.size) {
          const [key, slot] = pending.entries().next().value as [string, (Result | undefined)[]];
          const missing = ids.filter((_, i) => slot[i] === undefined);
          sub.error(
            new FlowError(
              `node '${n.id}': item '${key}' arrived from ${ids.filter((_, i) => slot[i]).join(', ')} but never from ${missing.join(', ')} (per-item inputs must come from sources with the same item keys)`,
              n.loc,
            ),
          );
        } else sub.complete();
      },
    });
    return () => s.unsubscribe();
  });
}

/** A node may pass an input tensor through as an output; give the output its own reference. */
function detachFromInputs(out: Record<string, unknown>, inputs: Record<string, unknown>): void {
  const inputTensors = new Set(tensorsIn(inputs));
  if (inputTensors.size === 0) return;
  const walk = (v: unknown): unknown => {
    if (v instanceof tf.Tensor) return inputTensors.has(v) ? tf.clone(v) : v;
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) o[k] = walk(o[k]);
    }
    return v;
  };
  for (const k of Object.keys(out)) out[k] = walk(out[k]);
}

function wrapNodeError(n: PlanNode, item: ItemInfo | undefined, e: unknown): Error {
  const msg = e instanceof Error ? e.message : String(e);
  const prefix = `node '${n.id}' (${n.type})${item ? ` on item '${item.key}'` : ''}: `;
  if (e instanceof FlowError && e.location) return e;
  return new FlowError(msg.startsWith(`node '${n.id}'`) ? msg : prefix + msg, undefined, { cause: e });
}

/** The params that key a unit's cache entry: a source's items leave out the params that only select them. */
function keyParams(n: PlanNode, isSourceItem: boolean): Record<string, unknown> {
  const selection = n.def.selectionParams;
  if (!isSourceItem || !selection || selection.length === 0) return n.params;
  return Object.fromEntries(Object.entries(n.params).filter(([name]) => !selection.includes(name)));
}
