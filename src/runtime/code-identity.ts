/**
 * The identity of a node's code, part of every cache key: the package version plus a digest of
 * the module that defines the node and every module it imports relatively, transitively (the
 * .ts sources under tsx, the compiled .js under dist/, a plugin's own files). Editing a solver
 * therefore misses exactly the entries its code produced; nothing stale is served.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { flowVersion } from './summary.js';

export interface CodeIdentity {
  flow: string;
  /** sha256 over the closure's files (path and content). */
  digest: string;
  /** Each file of the closure (relative to the package root, or absolute outside it) -> 12 hex. */
  files: Record<string, string>;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const IMPORT = /(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g;
const fileDigests = new Map<string, { sha: string; imports: string[] } | null>();

function resolveImport(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec);
  const candidates = [
    base,
    base.replace(/\.js$/, '.ts'),
    base.replace(/\.mjs$/, '.mts'),
    `${base}.ts`,
    `${base}.js`,
  ];
  for (const c of candidates) if (read(c)) return c;
  return undefined;
}

function read(file: string): { sha: string; imports: string[] } | null {
  if (fileDigests.has(file)) return fileDigests.get(file) ?? null;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    fileDigests.set(file, null);
    return null;
  }
  const entry = { sha: createHash('sha256').update(text).digest('hex'), imports: [] as string[] };
  fileDigests.set(file, entry);
  for (const m of text.matchAll(IMPORT)) {
    const target = resolveImport(file, m[1] as string);
    if (target) entry.imports.push(target);
  }
  return entry;
}

const identities = new Map<string, CodeIdentity>();

/** The code identity of a module and its relative imports; unknown modules give the version only. */
export function codeIdentity(moduleFile: string | undefined): CodeIdentity {
  const key = moduleFile ?? '';
  const known = identities.get(key);
  if (known) return known;
  const files: Record<string, string> = {};
  const stack = moduleFile ? [moduleFile] : [];
  const seen = new Set<string>();
  while (stack.length) {
    const f = stack.pop() as string;
    if (seen.has(f)) continue;
    seen.add(f);
    const e = read(f);
    if (!e) continue;
    const rel = path.relative(ROOT, f);
    files[rel.startsWith('..') ? f : rel.split(path.sep).join('/')] = e.sha.slice(0, 12);
    stack.push(...e.imports);
  }
  const h = createHash('sha256');
  for (const name of Object.keys(files).sort()) h.update(`${name}\0${files[name]}\0`);
  const id = { flow: flowVersion(), digest: h.digest('hex'), files };
  identities.set(key, id);
  return id;
}
