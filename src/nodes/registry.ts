/**
 * The set of node types a pipeline can use: the built-ins plus whatever its plugins register.
 * Definitions are checked once when registered, so a broken plugin fails at load time with its
 * file named, not halfway through a run.
 */
import { FlowError, suggest } from '../graph/errors.js';
import { PORT_TYPES, type NodeDefinition } from './define.js';

// Registries hold definitions of differing param types; they are only called with validated params.
export type AnyNodeDefinition = NodeDefinition<never>;

export class NodeRegistry {
  private readonly defs = new Map<string, AnyNodeDefinition>();
  private readonly origins = new Map<string, string>();

  register(def: NodeDefinition<never> | NodeDefinition, origin = 'built-in'): void {
    const d = def as AnyNodeDefinition;
    checkDefinition(d, origin);
    const prior = this.origins.get(d.type);
    if (prior !== undefined && prior !== origin) {
      throw new FlowError(`node type '${d.type}' from ${origin} is already defined by ${prior}`);
    }
    this.defs.set(d.type, d);
    this.origins.set(d.type, origin);
  }

  has(type: string): boolean {
    return this.defs.has(type);
  }

  get(type: string): AnyNodeDefinition {
    const d = this.defs.get(type);
    if (!d) throw new FlowError(`unknown node type '${type}'${suggest(type, this.defs.keys())}`);
    return d;
  }

  origin(type: string): string {
    return this.origins.get(type) ?? 'unknown';
  }

  types(): string[] {
    return [...this.defs.keys()].sort();
  }

  clone(): NodeRegistry {
    const r = new NodeRegistry();
    for (const [t, d] of this.defs) r.register(d, this.origins.get(t));
    return r;
  }
}

function checkDefinition(d: AnyNodeDefinition, origin: string): void {
  const bad = (what: string): never => {
    throw new FlowError(
      `invalid node definition${d?.type ? ` '${String(d.type)}'` : ''} in ${origin}: ${what}`,
    );
  };
  if (!d || typeof d !== 'object') bad('not an object');
  if (typeof d.type !== 'string' || !/^[a-z][a-z0-9-]*(\.[a-z0-9-]+)*$/.test(d.type)) {
    bad(`type must be a lower-case dotted name like 'measure.sr'`);
  }
  if (!Number.isInteger(d.version) || d.version < 1) bad('version must be a positive integer');
  if (typeof d.run !== 'function') bad('run must be a function');
  for (const [kind, ports] of [
    ['input', d.inputs],
    ['output', d.outputs],
  ] as const) {
    if (!ports || typeof ports !== 'object') bad(`${kind}s must be an object`);
    for (const [name, spec] of Object.entries(ports)) {
      if (!(PORT_TYPES as readonly string[]).includes(spec?.type)) {
        bad(`${kind} '${name}' has unknown port type '${String(spec?.type)}'`);
      }
    }
  }
  if (!d.params || typeof d.params !== 'object' || d.params.type !== 'object') {
    bad(`params must be a JSON Schema with type 'object'`);
  }
}
