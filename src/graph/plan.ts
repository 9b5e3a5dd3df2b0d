/**
 * From a pipeline file to a checked execution plan: includes flattened into one namespace
 * (`group/node`), params resolved and validated against each node type's schema, every edge
 * checked (unknown nodes and ports, dangling inputs, port type mismatches), and the graph checked
 * for cycles. Nothing runs before all of this passes.
 */
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { ValidateFunction } from 'ajv';
import { parsePipelineText, readPipelineFile, type PipelineDocument, type YamlPath } from './document.js';
import { FlowError, suggest, type SourceLocation } from './errors.js';
import { parseOverride, resolveReferences, type ParamOverride, type Scope } from './params.js';
import { createAjv, firstAjvError } from './ajv.js';
import { buildGraph, type FlowGraph } from './graph.js';
import type { NodeRegistry, AnyNodeDefinition } from '../nodes/registry.js';
import type { PortType } from '../nodes/define.js';
import { loadPlugins } from '../nodes/plugins.js';
import { builtinRegistry } from '../nodes/builtins.js';
import { seedProblem } from './seed.js';

export interface PortRef {
  node: string;
  port: string;
}

export interface PlanNode {
  id: string;
  type: string;
  def: AnyNodeDefinition;
  /** Params after references, overrides and schema defaults. */
  params: Record<string, unknown>;
  inputs: Record<string, PortRef>;
  /** Where the node is declared, and a locator for its params. */
  loc: SourceLocation;
  locate: (path: YamlPath, key?: boolean) => SourceLocation;
  /** Id of the include node this one came from ('' at top level). */
  group: string;
  /** Folder of the document declaring the node. */
  baseDir: string;
}

export interface Plan {
  name: string;
  description?: string;
  file: string;
  /** sha256 of the top-level file's text. */
  digest: string;
  /** The top-level file's text. */
  text: string;
  params: Record<string, unknown>;
  models: Record<string, string>;
  nodes: Map<string, PlanNode>;
  /** Topological order. */
  order: string[];
  graph: FlowGraph;
  registry: NodeRegistry;
}

export interface LoadOptions {
  overrides?: (string | ParamOverride)[];
  /** Plugins run code: false refuses a pipeline that lists any (validate, graph: --allow-plugins). Default true. */
  allowPlugins?: boolean;
  seed?: number;
  registry?: NodeRegistry;
  /** The pipeline's text, when it is not on disk: `file` still names it and places its relative paths. */
  text?: string;
}

interface Draft {
  id: string;
  type: string;
  group: string;
  rawParams: Record<string, unknown>;
  scope: Scope;
  rawInputs: Record<string, string>;
  doc: PipelineDocument;
  localId: string;
  /** Absolute input refs, filled once the draft's level is fully expanded. */
  inputs?: Record<string, PortRef>;
}

const ajv = createAjv();
const validators = new WeakMap<object, ValidateFunction>();

function paramValidator(def: AnyNodeDefinition): ValidateFunction {
  let v = validators.get(def);
  if (!v) {
    // Unknown keys are mistakes: close every params schema that does not say otherwise.
    const schema = { ...def.params };
    if (!('additionalProperties' in schema)) schema.additionalProperties = false;
    v = ajv.compile(schema);
    validators.set(def, v);
  }
  return v;
}

export async function loadPlan(file: string, opts: LoadOptions = {}): Promise<Plan> {
  const doc =
    opts.text === undefined ? await readPipelineFile(file) : parsePipelineText(opts.text, path.resolve(file));
  const registry = (opts.registry ?? (await builtinRegistry())).clone();
  await loadPlugins(doc, registry, opts.allowPlugins ?? true);

  const overrides = (opts.overrides ?? []).map((o) => (typeof o === 'string' ? parseOverride(o) : o));
  const params = structuredClone(doc.params);
  const nodeOverrides: ParamOverride[] = [];
  for (const o of overrides) {
    if (!o.target.includes('.')) {
      if (!(o.target in params)) {
        throw new FlowError(
          `--set ${o.text}: the pipeline has no param '${o.target}'${suggest(o.target, Object.keys(params))}`,
          { file: doc.file },
        );
      }
      params[o.target] = o.value;
    } else {
      nodeOverrides.push(o);
    }
  }
  if (opts.seed !== undefined) params.seed = opts.seed;
  const badSeed = 'seed' in params ? seedProblem(params.seed) : undefined;
  if (badSeed) throw new FlowError(`params.seed ${badSeed}`, { file: doc.file });
  const models: Record<string, string> = {};
  for (const [k, p] of Object.entries(doc.models)) models[k] = path.resolve(doc.dir, p);

  const drafts: Draft[] = [];
  await expand(doc, '', { ...params, models }, {}, [doc.file], drafts, registry, opts.allowPlugins ?? true);
  const byId = new Map(drafts.map((d) => [d.id, d]));

  for (const o of nodeOverrides) {
    const dot = o.target.lastIndexOf('.');
    const nodeId = o.target.slice(0, dot);
    const key = o.target.slice(dot + 1);
    const d = byId.get(nodeId);
    if (!d)
      throw new FlowError(`--set ${o.text}: no node '${nodeId}'${suggest(nodeId, byId.keys())}`, {
        file: doc.file,
      });
    const props = Object.keys((registry.get(d.type).params.properties ?? {}) as Record<string, unknown>);
    if (!props.includes(key)) {
      throw new FlowError(
        `--set ${o.text}: node '${nodeId}' (${d.type}) has no param '${key}'${suggest(key, props)}`,
        {
          file: doc.file,
        },
      );
    }
    d.rawParams = { ...d.rawParams, [key]: o.value };
  }

  const nodes = new Map<string, PlanNode>();
  for (const d of drafts) {
    const def = registry.get(d.type);
    const locate = (p: YamlPath, key?: boolean): SourceLocation =>
      d.doc.locate(['nodes', d.localId, ...p], key);
    const resolved = resolveReferences(d.rawParams, d.scope, (p) => locate(['params', ...p])) as Record<
      string,
      unknown
    >;
    const validate = paramValidator(def);
    if (!validate(resolved)) {
      const err = firstAjvError(validate.errors ?? [], `${d.id}.params`);
      throw new FlowError(err.message, locate(['params', ...err.path], err.atKey));
    }
    const inputs = d.inputs ?? {};
    nodes.set(d.id, {
      id: d.id,
      type: d.type,
      def,
      params: resolved,
      inputs,
      loc: locate([]),
      locate,
      group: d.group,
      baseDir: d.doc.dir,
    });
  }
  checkEdges(nodes);
  const { graph, order } = buildGraph(nodes);
  return {
    name: doc.name,
    description: doc.description,
    file: doc.file,
    digest: createHash('sha256').update(doc.text).digest('hex'),
    text: doc.text,
    params,
    models,
    nodes,
    order,
    graph,
    registry,
  };
}

/**
 * Expand one document's nodes into drafts. `bindings` maps this chain's input names to absolute
 * refs in the parent. Returns a resolver turning a draft's raw `node.port` text into an absolute ref.
 */
async function expand(
  doc: PipelineDocument,
  prefix: string,
  scope: Scope,
  bindings: Record<string, PortRef>,
  stack: string[],
  out: Draft[],
  registry: NodeRegistry,
  allowPlugins = true,
): Promise<{ outputs: Record<string, PortRef> }> {
  const includeOutputs = new Map<string, Record<string, PortRef>>();
  const ownDrafts: Draft[] = [];
  const resolveLocal = (fromDoc: PipelineDocument, localId: string, port: string, ref: string): PortRef => {
    const dot = ref.lastIndexOf('.');
    const a = ref.slice(0, dot);
    const b = ref.slice(dot + 1);
    const where = fromDoc.locate(['nodes', localId, 'inputs', port]);
    if (a === 'inputs') {
      const bound = bindings[b];
      if (!bound) {
        throw new FlowError(
          `input '${port}' of node '${localId}' refers to chain input '${b}', which this chain does not declare${suggest(b, Object.keys(bindings))}`,
          where,
        );
      }
      return bound;
    }
    const inc = includeOutputs.get(a);
    if (inc) {
      const r = inc[b];
      if (!r) {
        throw new FlowError(
          `input '${port}' of node '${localId}' refers to '${ref}', but the chain included as '${a}' has no output '${b}'${suggest(b, Object.keys(inc))}`,
          where,
        );
      }
      return r;
    }
    if (!(a in fromDoc.nodes)) {
      throw new FlowError(
        `input '${port}' of node '${localId}' refers to unknown node '${a}'${suggest(a, Object.keys(fromDoc.nodes))}`,
        where,
      );
    }
    return { node: prefix + a, port: b };
  };

  for (const [localId, n] of Object.entries(doc.nodes)) {
    const id = prefix + localId;
    if (n.include !== undefined) {
      const chainFile = path.resolve(doc.dir, n.include);
      if (stack.includes(chainFile)) {
        throw new FlowError(
          `include cycle: ${[...stack, chainFile].map((f) => path.basename(f)).join(' -> ')}`,
          doc.locate(['nodes', localId, 'include']),
        );
      }
      let chain: PipelineDocument;
      try {
        chain = await readPipelineFile(chainFile);
      } catch (e) {
        if (e instanceof FlowError && e.detail === 'pipeline file not found') {
          throw new FlowError(
            `included chain file not found: ${chainFile}`,
            doc.locate(['nodes', localId, 'include']),
          );
        }
        throw e;
      }
      await loadPlugins(chain, registry, allowPlugins);
      const chainParams = structuredClone(chain.params);
      for (const [k, v] of Object.entries(n.params)) {
        if (!(k in chainParams)) {
          throw new FlowError(
            `chain '${chain.name}' has no param '${k}'${suggest(k, Object.keys(chainParams))}`,
            doc.locate(['nodes', localId, 'params', k], true),
          );
        }
        chainParams[k] = resolveReferences(v, scope, (p) =>
          doc.locate(['nodes', localId, 'params', k, ...p]),
        );
      }
      const chainModels: Record<string, string> = { ...((scope.models as Record<string, string>) ?? {}) };
      for (const [k, p] of Object.entries(chain.models)) chainModels[k] = path.resolve(chain.dir, p);
      const childBindings: Record<string, PortRef> = {};
      for (const [name] of Object.entries(chain.inputs)) {
        const ref = n.inputs[name];
        if (ref === undefined) {
          throw new FlowError(
            `include '${localId}' leaves chain input '${name}' unwired`,
            doc.locate(['nodes', localId]),
          );
        }
        childBindings[name] = resolveLocal(doc, localId, name, ref);
      }
      for (const name of Object.keys(n.inputs)) {
        if (!(name in chain.inputs)) {
          throw new FlowError(
            `chain '${chain.name}' has no input '${name}'${suggest(name, Object.keys(chain.inputs))}`,
            doc.locate(['nodes', localId, 'inputs', name], true),
          );
        }
      }
      const child = await expand(
        chain,
        `${id}/`,
        { ...chainParams, models: chainModels },
        childBindings,
        [...stack, chainFile],
        out,
        registry,
        allowPlugins,
      );
      includeOutputs.set(localId, child.outputs);
      continue;
    }
    const type = n.type as string;
    if (!registry.has(type)) {
      throw new FlowError(
        `unknown node type '${type}'${suggest(type, registry.types())}`,
        doc.locate(['nodes', localId, 'type']),
      );
    }
    const draft: Draft = {
      id,
      type,
      group: prefix.replace(/\/$/, ''),
      rawParams: n.params,
      scope,
      rawInputs: n.inputs,
      doc,
      localId,
    };
    ownDrafts.push(draft);
    out.push(draft);
  }
  // Resolve this level's refs now that every include's outputs are known.
  for (const d of ownDrafts) {
    d.inputs = {};
    for (const [port, ref] of Object.entries(d.rawInputs))
      d.inputs[port] = resolveLocal(doc, d.localId, port, ref);
  }
  const outputs: Record<string, PortRef> = {};
  for (const [name, ref] of Object.entries(doc.outputs)) {
    const dot = ref.lastIndexOf('.');
    const a = ref.slice(0, dot);
    const inc = includeOutputs.get(a);
    if (inc) {
      const r = inc[ref.slice(dot + 1)];
      if (!r)
        throw new FlowError(
          `chain output '${name}' refers to '${ref}', which does not exist`,
          doc.locate(['outputs', name]),
        );
      outputs[name] = r;
    } else {
      if (!(a in doc.nodes))
        throw new FlowError(
          `chain output '${name}' refers to unknown node '${a}'`,
          doc.locate(['outputs', name]),
        );
      outputs[name] = { node: prefix + a, port: ref.slice(dot + 1) };
    }
  }
  return { outputs };
}

function checkEdges(nodes: Map<string, PlanNode>): void {
  for (const n of nodes.values()) {
    for (const [port, ref] of Object.entries(n.inputs)) {
      const where = n.locate(['inputs', port]);
      const spec = n.def.inputs[port];
      if (!spec) {
        throw new FlowError(
          `node '${n.id}' (${n.type}) has no input port '${port}'${suggest(port, Object.keys(n.def.inputs))}`,
          n.locate(['inputs', port], true),
        );
      }
      const src = nodes.get(ref.node);
      if (!src)
        throw new FlowError(`input '${port}' of node '${n.id}' refers to unknown node '${ref.node}'`, where);
      const out = src.def.outputs[ref.port];
      if (!out) {
        throw new FlowError(
          `input '${port}' of node '${n.id}' refers to '${ref.node}.${ref.port}', but ${src.type} has no output '${ref.port}'${suggest(ref.port, Object.keys(src.def.outputs))}`,
          where,
        );
      }
      if (!compatible(out.type, spec.type)) {
        throw new FlowError(
          `type mismatch: '${ref.node}.${ref.port}' is ${out.type} but input '${port}' of node '${n.id}' (${n.type}) takes ${spec.type}`,
          where,
        );
      }
    }
    for (const [port, spec] of Object.entries(n.def.inputs)) {
      if (!spec.optional && !(port in n.inputs)) {
        throw new FlowError(
          `node '${n.id}' (${n.type}): required input '${port}' (${spec.type}) is not wired`,
          n.loc,
        );
      }
    }
  }
}

function compatible(from: PortType, to: PortType): boolean {
  return from === to || from === 'any' || to === 'any';
}
