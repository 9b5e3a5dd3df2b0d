/**
 * The plan as a graphology multigraph (one edge per wired input port), checked for cycles, plus
 * renderers for `flow graph` (Mermaid and DOT).
 */
import graphology from 'graphology';
import { topologicalSort } from 'graphology-dag';
import { FlowError } from './errors.js';
import type { PlanNode } from './plan.js';

const { MultiDirectedGraph } = graphology;
export type FlowGraph = InstanceType<typeof MultiDirectedGraph>;

export interface EdgeAttributes {
  fromPort: string;
  toPort: string;
  type: string;
}

export function buildGraph(nodes: Map<string, PlanNode>): { graph: FlowGraph; order: string[] } {
  const graph = new MultiDirectedGraph();
  for (const n of nodes.values()) graph.addNode(n.id, { type: n.type, group: n.group });
  for (const n of nodes.values()) {
    for (const [port, ref] of Object.entries(n.inputs)) {
      const type = nodes.get(ref.node)?.def.outputs[ref.port]?.type ?? 'any';
      graph.addEdge(ref.node, n.id, { fromPort: ref.port, toPort: port, type } satisfies EdgeAttributes);
    }
  }
  const cycle = findCycle(graph);
  if (cycle) {
    const first = nodes.get(cycle[0] as string);
    throw new FlowError(`cycle in the pipeline graph: ${cycle.join(' -> ')}`, first?.loc);
  }
  return { graph, order: topologicalSort(graph) };
}

/** A cycle as a list of node ids (first repeated at the end), or undefined. Iterative DFS. */
function findCycle(graph: FlowGraph): string[] | undefined {
  const state = new Map<string, 1 | 2>();
  for (const start of graph.nodes()) {
    if (state.has(start)) continue;
    const stack: { node: string; next: string[] }[] = [{ node: start, next: graph.outNeighbors(start) }];
    state.set(start, 1);
    while (stack.length) {
      const top = stack[stack.length - 1] as { node: string; next: string[] };
      const nb = top.next.shift();
      if (nb === undefined) {
        state.set(top.node, 2);
        stack.pop();
        continue;
      }
      const s = state.get(nb);
      if (s === 1) {
        const ids = stack.map((f) => f.node);
        return [...ids.slice(ids.indexOf(nb)), nb];
      }
      if (s === undefined) {
        state.set(nb, 1);
        stack.push({ node: nb, next: graph.outNeighbors(nb) });
      }
    }
  }
  return undefined;
}

function safeId(id: string): string {
  return id.replace(/[^A-Za-z0-9_]/g, '_');
}

export function toMermaid(nodes: Map<string, PlanNode>, graph: FlowGraph): string {
  const lines = ['flowchart LR'];
  const groups = new Map<string, string[]>();
  for (const n of nodes.values()) {
    const line = `  ${safeId(n.id)}["${n.id}<br/><i>${n.type}</i>"]`;
    const list = groups.get(n.group) ?? [];
    list.push(line);
    groups.set(n.group, list);
  }
  for (const [group, list] of groups) {
    if (group) lines.push(`  subgraph ${safeId(group)}["${group}"]`, ...list.map((l) => `  ${l}`), '  end');
    else lines.push(...list);
  }
  graph.forEachEdge((_e, attr, src, dst) => {
    const a = attr as EdgeAttributes;
    lines.push(`  ${safeId(src)} -- "${a.fromPort} → ${a.toPort} (${a.type})" --> ${safeId(dst)}`);
  });
  return lines.join('\n') + '\n';
}

export function toDot(nodes: Map<string, PlanNode>, graph: FlowGraph): string {
  const q = (s: string): string => JSON.stringify(s);
  const lines = ['digraph flow {', '  rankdir=LR;', '  node [shape=box, fontname="Helvetica"];'];
  const groups = new Map<string, PlanNode[]>();
  for (const n of nodes.values()) groups.set(n.group, [...(groups.get(n.group) ?? []), n]);
  let k = 0;
  for (const [group, list] of groups) {
    const decl = list.map((n) => `${q(n.id)} [label=${q(`${n.id}\n${n.type}`)}];`);
    if (group)
      lines.push(
        `  subgraph cluster_${k++} {`,
        `    label=${q(group)};`,
        ...decl.map((d) => `    ${d}`),
        '  }',
      );
    else lines.push(...decl.map((d) => `  ${d}`));
  }
  graph.forEachEdge((_e, attr, src, dst) => {
    const a = attr as EdgeAttributes;
    lines.push(`  ${q(src)} -> ${q(dst)} [label=${q(`${a.fromPort} → ${a.toPort}\n${a.type}`)}];`);
  });
  lines.push('}');
  return lines.join('\n') + '\n';
}
