/** One ajv configuration for documents and node params, and a readable rendering of its errors. */
import { Ajv, type ErrorObject } from 'ajv';
import type { YamlPath } from './document.js';

export function createAjv(): Ajv {
  return new Ajv({ allErrors: true, useDefaults: true, strict: false, allowUnionTypes: true });
}

export interface ReadableAjvError {
  message: string;
  /** Path into the validated value (to locate it in the YAML). */
  path: YamlPath;
  /** True when the error is about a key (unknown key): point at the key, not the value. */
  atKey: boolean;
}

function pathOf(instancePath: string): YamlPath {
  if (!instancePath) return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function describe(e: ErrorObject, prefix: string): ReadableAjvError {
  const p = pathOf(e.instancePath);
  const where = p.length
    ? `'${[prefix, ...p].filter(Boolean).join('.')}'`
    : prefix
      ? `'${prefix}'`
      : 'document';
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      return { message: `unknown key '${key}' in ${where}`, path: [...p, key], atKey: true };
    }
    case 'required':
      return {
        message: `${where} is missing required key '${String((e.params as { missingProperty: string }).missingProperty)}'`,
        path: p,
        atKey: false,
      };
    case 'type':
      return {
        message: `${where} must be ${String((e.params as { type: string }).type)}`,
        path: p,
        atKey: false,
      };
    case 'enum':
      return {
        message: `${where} must be one of ${((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map((v) => JSON.stringify(v)).join(', ')}`,
        path: p,
        atKey: false,
      };
    case 'const':
      return {
        message: `${where} must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`,
        path: p,
        atKey: false,
      };
    case 'propertyNames':
      return {
        message: `invalid name ${where.replace(/'$/, '')}.${String((e.params as { propertyName: string }).propertyName)}'`,
        path: [...p, String((e.params as { propertyName: string }).propertyName)],
        atKey: true,
      };
    case 'pattern': {
      const pattern = String((e.params as { pattern: string }).pattern);
      const what = pattern.includes('\\.')
        ? "a port reference like 'node.port'"
        : `a name matching ${pattern}`;
      return { message: `${where} must be ${what}`, path: p, atKey: false };
    }
    case 'oneOf':
      return { message: `${where} must have exactly one of 'type' or 'include'`, path: p, atKey: false };
    default:
      return { message: `${where} ${e.message ?? 'is invalid'}`, path: p, atKey: false };
  }
}

/** The most useful error: prefer specific ones (unknown key, type) over composite ones (oneOf). */
export function firstAjvError(errors: ErrorObject[], prefix = ''): ReadableAjvError {
  const rank = (e: ErrorObject): number =>
    e.keyword === 'additionalProperties' ? 0 : e.keyword === 'oneOf' ? 3 : e.keyword === 'if' ? 4 : 1;
  const useful = errors.filter(
    (e) => e.keyword !== 'pattern' || !errors.some((o) => o.keyword === 'propertyNames'),
  );
  const sorted = [...(useful.length ? useful : errors)].sort((a, b) => rank(a) - rank(b));
  const e = sorted[0];
  if (!e) return { message: 'invalid document', path: [], atKey: false };
  return describe(e, prefix);
}
