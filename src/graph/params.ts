/**
 * Pipeline params: top-level `params` referenced inside node params as `${name}` (or `${models.x}`),
 * overridden from the command line with `--set name=value` (a pipeline param) or
 * `--set node.param=value` (one node's param). A reference that is the whole string keeps the
 * referenced value's type; inside a longer string it is interpolated as text.
 */
import { parse as parseYamlScalar } from 'yaml';
import { FlowError, suggest, type SourceLocation } from './errors.js';

export interface ParamOverride {
  /** `samples` or `measure.factor` (node id may contain '/' for nodes inside included chains). */
  target: string;
  value: unknown;
  /** The original text, for error messages. */
  text: string;
}

/** Parse `--set a.b=value`; the value is read as a YAML scalar/flow value (8 -> number, [1,2] -> array). */
export function parseOverride(text: string): ParamOverride {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new FlowError(`--set '${text}': expected name=value`);
  const target = text.slice(0, eq).trim();
  const raw = text.slice(eq + 1);
  let value: unknown;
  try {
    value = raw === '' ? '' : parseYamlScalar(raw);
  } catch {
    value = raw;
  }
  return { target, value, text };
}

const WHOLE_REF = /^\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}$/;
const ANY_REF = /\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}/g;

export type Scope = Record<string, unknown>;

function lookup(scope: Scope, name: string): { found: boolean; value: unknown } {
  let cur: unknown = scope;
  for (const part of name.split('.')) {
    if (cur === null || typeof cur !== 'object' || !(part in (cur as Record<string, unknown>))) {
      return { found: false, value: undefined };
    }
    cur = (cur as Record<string, unknown>)[part];
  }
  return { found: true, value: cur };
}

/** Replace `${...}` references in a params tree. `where(path)` locates a value for errors. */
export function resolveReferences(
  value: unknown,
  scope: Scope,
  where: (path: (string | number)[]) => SourceLocation,
  path: (string | number)[] = [],
): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE_REF.exec(value);
    if (whole) {
      const name = whole[1] as string;
      const r = lookup(scope, name);
      if (!r.found) throw unknownRef(name, scope, where(path));
      return structuredClone(r.value);
    }
    return value.replace(ANY_REF, (_m, name: string) => {
      const r = lookup(scope, name);
      if (!r.found) throw unknownRef(name, scope, where(path));
      return typeof r.value === 'string' ? r.value : JSON.stringify(r.value);
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveReferences(v, scope, where, [...path, i]));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveReferences(v, scope, where, [...path, k]);
    return out;
  }
  return value;
}

function unknownRef(name: string, scope: Scope, loc: SourceLocation): FlowError {
  const names = Object.keys(scope).flatMap((k) => {
    const v = scope[k];
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? [k, ...Object.keys(v).map((s) => `${k}.${s}`)]
      : [k];
  });
  return new FlowError(`reference '\${${name}}' names no pipeline param${suggest(name, names)}`, loc);
}
