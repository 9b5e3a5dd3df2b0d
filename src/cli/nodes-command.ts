/** `flow nodes`: every node type with its ports and parameter schema. */
import path from 'node:path';
import { builtinRegistry } from '../nodes/builtins.js';
import { importPluginModule, loadPlugins } from '../nodes/plugins.js';
import { readPipelineFile } from '../graph/document.js';
import { FlowError, suggest } from '../graph/errors.js';
import type { AnyNodeDefinition } from '../nodes/registry.js';

interface SchemaProp {
  type?: string | string[];
  default?: unknown;
  enum?: unknown[];
  description?: string;
  minimum?: number;
  maximum?: number;
}

function describeParam(name: string, p: SchemaProp, required: boolean): string {
  const type = p.enum
    ? p.enum.map((v) => JSON.stringify(v)).join('|')
    : Array.isArray(p.type)
      ? p.type.join('|')
      : (p.type ?? 'any');
  const range =
    p.minimum !== undefined || p.maximum !== undefined ? ` [${p.minimum ?? ''}..${p.maximum ?? ''}]` : '';
  const def = p.default !== undefined ? ` = ${JSON.stringify(p.default)}` : required ? ' (required)' : '';
  return `    ${name}: ${type}${range}${def}${p.description ? `  - ${p.description}` : ''}`;
}

function describeOne(d: AnyNodeDefinition, origin: string): string {
  const lines = [
    `${d.type}  (v${d.version}, ${d.category}${origin === 'built-in' ? '' : `, from ${origin}`})`,
    `  ${d.description}`,
  ];
  if (d.items) lines.push('  source: emits one item per input it enumerates');
  lines.push('  inputs:');
  for (const [k, s] of Object.entries(d.inputs))
    lines.push(
      `    ${k}: ${s.type}${s.optional ? ' (optional)' : ''}${s.description ? `  - ${s.description}` : ''}`,
    );
  if (!Object.keys(d.inputs).length) lines.push('    (none)');
  lines.push('  outputs:');
  for (const [k, s] of Object.entries(d.outputs))
    lines.push(`    ${k}: ${s.type}${s.description ? `  - ${s.description}` : ''}`);
  if (!Object.keys(d.outputs).length) lines.push('    (none)');
  lines.push('  params:');
  const props = (d.params.properties ?? {}) as Record<string, SchemaProp>;
  const required = new Set((d.params.required ?? []) as string[]);
  for (const [k, p] of Object.entries(props)) lines.push(describeParam(k, p, required.has(k)));
  if (!Object.keys(props).length) lines.push('    (none)');
  return lines.join('\n');
}

export async function describeNodes(
  type: string | undefined,
  o: { pipeline?: string; plugin: string[]; json?: boolean; allowPlugins?: boolean },
): Promise<string> {
  const registry = (await builtinRegistry()).clone();
  // --plugin names a module explicitly; a pipeline's plugins load only with --allow-plugins.
  if (o.pipeline) await loadPlugins(await readPipelineFile(o.pipeline), registry, Boolean(o.allowPlugins));
  for (const p of o.plugin) {
    const file = path.resolve(p);
    for (const def of await importPluginModule(file)) registry.register(def, file);
  }
  const types = type ? [type] : registry.types();
  if (type && !registry.has(type))
    throw new FlowError(`unknown node type '${type}'${suggest(type, registry.types())}`);
  if (o.json) {
    const out = types.map((t) => {
      const d = registry.get(t);
      return {
        type: d.type,
        version: d.version,
        category: d.category,
        description: d.description,
        source: Boolean(d.items),
        inputs: d.inputs,
        outputs: d.outputs,
        params: d.params,
        origin: registry.origin(t),
      };
    });
    return JSON.stringify(out, null, 2) + '\n';
  }
  return types.map((t) => describeOne(registry.get(t), registry.origin(t))).join('\n\n') + '\n';
}
