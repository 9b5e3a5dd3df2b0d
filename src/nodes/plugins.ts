/**
 * Plugins: local JS/TS modules named in a pipeline's `plugins:` list that register extra node
 * types with the same declaration API as the built-ins. A module's default export (or its `nodes`
 * export) is one definition or an array of them. TypeScript plugins load through tsx.
 */
import path from 'node:path';
import { access } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { FlowError } from '../graph/errors.js';
import type { PipelineDocument } from '../graph/document.js';
import type { NodeDefinition } from './define.js';
import type { NodeRegistry } from './registry.js';

const loaded = new Map<string, NodeDefinition[]>();

export async function importPluginModule(file: string): Promise<NodeDefinition[]> {
  const cached = loaded.get(file);
  if (cached) return cached;
  let mod: Record<string, unknown>;
  try {
    if (/\.(ts|mts|cts|tsx)$/.test(file)) {
      const { tsImport } = await import('tsx/esm/api');
      mod = (await tsImport(pathToFileURL(file).href, import.meta.url)) as Record<string, unknown>;
    } else {
      mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    }
  } catch (e) {
    throw new FlowError(
      `plugin failed to load: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`,
      {
        file,
      },
    );
  }
  const exported = mod.default ?? mod.nodes;
  const defs = (Array.isArray(exported) ? exported : [exported]).filter(
    (d) => d !== undefined,
  ) as NodeDefinition[];
  if (defs.length === 0)
    throw new FlowError('plugin exports no node definitions (default export or `nodes`)', { file });
  loaded.set(file, defs);
  return defs;
}

/** Import a pipeline's plugins; with `allow` false, refuse a pipeline that lists any (they run code). */
export async function loadPlugins(
  doc: PipelineDocument,
  registry: NodeRegistry,
  allow = true,
): Promise<void> {
  if (!allow && doc.plugins.length > 0)
    throw new FlowError(
      `the pipeline loads plugins, which run code on this machine (${doc.plugins.join(', ')}); pass --allow-plugins to load them`,
      doc.locate(['plugins', 0]),
    );
  for (const [i, rel] of doc.plugins.entries()) {
    const file = path.resolve(doc.dir, rel);
    try {
      await access(file);
    } catch {
      throw new FlowError(`plugin file not found: ${file}`, doc.locate(['plugins', i]));
    }
    for (const def of await importPluginModule(file)) {
      if (registry.has(def.type) && registry.origin(def.type) === file) continue;
      registry.register(def, file);
    }
  }
}
