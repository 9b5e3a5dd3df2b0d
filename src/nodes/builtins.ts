/** The built-in node types. Adding a node: write its file in src/nodes/ and list it here. */
import { NodeRegistry } from './registry.js';
import type { NodeDefinition } from './define.js';

let registry: NodeRegistry | undefined;

async function builtinDefinitions(): Promise<NodeDefinition<never>[]> {
  const modules = await Promise.all([] as Promise<{ default: NodeDefinition<never> }>[]);
  return modules.map((m) => m.default);
}

export async function builtinRegistry(): Promise<NodeRegistry> {
  if (!registry) {
    const r = new NodeRegistry();
    for (const def of await builtinDefinitions()) r.register(def);
    registry = r;
  }
  return registry;
}
