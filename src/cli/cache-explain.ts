/**
 * `flow cache explain FILE`: for each node of a pipeline, whether its own key material (type,
 * version, code, params, extra such as a model digest) matches an entry in the cache, and if not,
 * what differs from the nearest entry. Inputs and items are not computed (that needs a run): a
 * node whose own material matches can still miss because something upstream changed.
 */
import type { Plan } from '../graph/plan.js';
import type { StageCache } from '../runtime/cache.js';
import { canonicalJson } from '../runtime/cache.js';
import { codeIdentity, type CodeIdentity } from '../runtime/code-identity.js';

interface Own {
  type: string;
  version: number;
  code: CodeIdentity;
  params: Record<string, unknown>;
  extra: unknown;
}

const same = (a: unknown, b: unknown): boolean => canonicalJson(a) === canonicalJson(b);

function paramDiff(was: Record<string, unknown>, now: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const k of [...new Set([...Object.keys(was), ...Object.keys(now)])].sort())
    if (!same(was[k], now[k])) out.push(`params.${k} ${canonicalJson(was[k])} -> ${canonicalJson(now[k])}`);
  return out;
}

function differences(was: Own, now: Own): string[] {
  const out: string[] = [];
  if (was.version !== now.version) out.push(`version ${was.version} -> ${now.version}`);
  if (was.code?.flow !== now.code.flow) out.push(`flow ${was.code?.flow} -> ${now.code.flow}`);
  if (was.code?.digest !== now.code.digest) {
    const files = Object.keys({ ...was.code?.files, ...now.code.files })
      .filter((f) => was.code?.files?.[f] !== now.code.files[f])
      .sort();
    out.push(`code (${files.join(', ') || 'unknown'})`);
  }
  out.push(...paramDiff(was.params ?? {}, now.params));
  if (!same(was.extra, now.extra)) out.push('extra material (e.g. a model or mask file changed)');
  return out;
}

export async function explainCache(plan: Plan, cache: StageCache): Promise<string> {
  const byNode = new Map<string, { created: string; own: Own }[]>();
  let withoutMaterial = 0;
  for (const e of await cache.entries()) {
    if (!e.material) {
      withoutMaterial++;
      continue;
    }
    const list = byNode.get(e.node) ?? [];
    list.push({ created: e.created, own: e.material as Own });
    byNode.set(e.node, list);
  }
  const lines: string[] = [];
  for (const id of plan.order) {
    const n = plan.nodes.get(id);
    if (!n || n.def.cache === false) continue;
    const extra = n.def.cacheKey
      ? await n.def.cacheKey(n.params as never, { baseDir: n.baseDir })
      : undefined;
    const now: Own = {
      type: n.type,
      version: n.def.version,
      code: codeIdentity(n.def.source),
      params: n.params,
      extra,
    };
    const found = (byNode.get(id) ?? []).filter((e) => e.own.type === n.type);
    const head = `${id} (${n.type}): `;
    if (found.length === 0) {
      lines.push(`${head}no entry in the cache for this node`);
      continue;
    }
    // Source items leave their selection params out of the key; compare the params both have.
    const matching = found.filter(
      (e) => differences(e.own, { ...now, params: pick(now.params, e.own.params) }).length === 0,
    );
    if (matching.length > 0) {
      lines.push(
        `${head}its own key material matches ${matching.length} entr${matching.length === 1 ? 'y' : 'ies'}; a miss can only come from its inputs or items`,
      );
      continue;
    }
    const ranked = found
      .map((e) => ({ e, diff: differences(e.own, now) }))
      .sort((a, b) => a.diff.length - b.diff.length || b.e.created.localeCompare(a.e.created));
    const best = ranked[0] as { diff: string[] };
    lines.push(`${head}no entry matches; nearest differs in: ${best.diff.join(', ')}`);
  }
  if (withoutMaterial > 0)
    lines.push(
      `(${withoutMaterial} entries were written by an older flow without key material; they can no longer hit)`,
    );
  return lines.join('\n') + '\n';
}

function pick(
  params: Record<string, unknown>,
  like: Record<string, unknown> | undefined,
): Record<string, unknown> {
  if (!like) return params;
  return Object.fromEntries(Object.entries(params).filter(([k]) => k in like));
}
