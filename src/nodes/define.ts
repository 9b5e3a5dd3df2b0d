/**
 * The node declaration API. Every node type, built-in or from a plugin, is one object made with
 * `defineNode`: its ports, its parameter schema (JSON Schema, validated with ajv, defaults applied)
 * and its version live in one place, and the work is a single `run` function.
 *
 * Bump `version` whenever a change alters the node's outputs: the stage cache keys on it.
 */
import type * as tf from '@tensorflow/tfjs';
import { callerModule } from '../util/caller-module.js';
import type { PreviewSink } from '../io/preview.js';

/** The kinds of value that travel along edges. An edge is legal only between equal types (or `any`). */
export const PORT_TYPES = [
  'image', // tf.Tensor4D, NHWC float32 in [-1, 1]; the batch axis holds samples
  'mask', // tf.Tensor4D, 1 x H x W x 1, 1 = observed, 0 = missing
  'latent', // tf.Tensor4D, NHWC latent codes of a diffusion model
  'operator', // MeasurementOperator: the measurement A together with its observation y
  'model', // a loaded diffusion model / autoencoder / classifier
  'schedule', // a noise schedule, or keypoints on one
  'posterior', // fitted variational posterior parameters
  'metrics', // Record<string, number | number[]>
  'scalar', // number
  'labels', // number[]: class labels, one per sample
  'context', // tf.Tensor [tokens, dim]: a cross-attention context (context-conditioned models)
  'any',
] as const;
export type PortType = (typeof PORT_TYPES)[number];

export interface InputSpec {
  type: PortType;
  description?: string;
  /** An optional input may be left unwired; `run` then receives `undefined` for it. */
  optional?: boolean;
}

export interface OutputSpec {
  type: PortType;
  description?: string;
}

/** Progress a node reports while it works (step i of n, plus named values such as a loss). */
export interface Progress {
  step: number;
  total: number;
  message?: string;
  values?: Record<string, number>;
}

/** Where an item came from: its key (unique within a run) and free metadata (path, label, ...). */
export interface ItemInfo {
  key: string;
  index: number;
  meta: Record<string, string | number | boolean>;
}

/** A file a node wants written into the run's output folder (written atomically by the runtime). */
export interface OutputFile {
  /** Path relative to the run's output folder, using '/' separators. */
  path: string;
  bytes: Uint8Array;
}

export interface NodeContext {
  /** Id of the node instance in the pipeline (e.g. `measure` or `sr/down` inside an included chain). */
  readonly nodeId: string;
  /** Folder of the YAML file that declares this node: relative paths in params resolve against it. */
  readonly baseDir: string;
  /** Seed for this node and item: derived from the pipeline seed, node id and item key. */
  readonly seed: number;
  /** The item being processed; undefined for nodes whose inputs are all run-wide constants. */
  readonly item?: ItemInfo;
  /** Aborted on Ctrl-C or when another node fails: long loops must check it. */
  readonly signal: AbortSignal;
  progress(p: Progress): void;
  /** Set when the run asked for live previews: hand it to the solver (io/preview.ts). */
  readonly preview?: PreviewSink;
  log(message: string): void;
  /** Ask the runtime to write a file into the output folder when the run succeeds. */
  writeFile(file: OutputFile): void;
  /** Count network evaluations (reported in run.json so solvers can be compared at equal cost). */
  countCalls(kind: 'forward' | 'gradient', n?: number): void;
  /** Add entries to the run's metrics table (written to run.json). */
  reportMetrics(values: Record<string, number | number[] | string>): void;
}

/** What a source node yields for each item before its content is loaded. */
export interface ItemDescriptor {
  key: string;
  /** Digest of the item's content (e.g. sha256 of the file): keys the stage cache. */
  digest: string;
  meta?: Record<string, string | number | boolean>;
}

export type Inputs = Record<string, unknown>;
export type Outputs = Record<string, unknown>;

export interface NodeDefinition<P = Record<string, unknown>> {
  type: string;
  version: number;
  category: string;
  description: string;
  inputs: Record<string, InputSpec>;
  outputs: Record<string, OutputSpec>;
  /** JSON Schema of the params object. Defaults in it are applied before `run` sees the params. */
  params: Record<string, unknown>;
  /** A source enumerates its items cheaply; `run` is then called once per item with `ctx.item` set. */
  items?: (params: P, ctx: Omit<NodeContext, 'item'>) => AsyncIterable<ItemDescriptor> | ItemDescriptor[];
  /**
   * A source's params that only choose which items it emits (a path, a glob, a range, a limit).
   * They stay out of each item's cache key (the item's content digest stands in for them), so a
   * wider or shifted selection reuses every item already computed downstream.
   */
  selectionParams?: readonly (keyof P & string)[];
  /** The work. Receives the wired inputs (tensors belong to the runtime: do not dispose them). */
  run(inputs: Inputs, params: P, ctx: NodeContext): Promise<Outputs> | Outputs;
  /**
   * Refuse NaN or infinity in any output tensor (solvers, samplers, autoencoders): the runtime
   * checks once, after `run`, before anything is cached or saved (src/runtime/finite.ts).
   */
  finiteOutputs?: boolean;
  /** False for nodes whose outputs cannot or should not be cached (e.g. model loading). Default true. */
  cache?: boolean;
  /**
   * The module defining the node (found from the call stack by defineNode when not given): its
   * code, with everything it imports relatively, keys the cache (src/runtime/code-identity.ts).
   */
  source?: string;
  /** Extra cache-key material (e.g. a model digest) computed from params; the runtime adds it to the key. */
  cacheKey?: (params: P, ctx: { baseDir: string }) => Promise<string> | string;
}

export function defineNode<P = Record<string, unknown>>(def: NodeDefinition<P>): NodeDefinition<P> {
  def.source ??= callerModule(/\/nodes\/define\.[tj]s$/);
  return def;
}

/** Convenience for node authors: read a typed input, failing clearly if it is missing. */
export function requireInput<T>(inputs: Inputs, name: string, nodeId: string): T {
  const v = inputs[name];
  if (v === undefined) throw new Error(`node '${nodeId}': input '${name}' is not wired`);
  return v as T;
}

export type Tensor4D = tf.Tensor4D;
