/** Which module called: node definitions find their own source file for the cache key. */
import { fileURLToPath } from 'node:url';

/** A file path from a stack frame or module URL ('file:///x.ts?tsx=1' -> '/x.ts'). */
export function sourcePath(location: string): string {
  const clean = location.replace(/[?#].*$/, '');
  return clean.startsWith('file:') ? fileURLToPath(clean) : clean;
}

/** The first module on the call stack that is neither this file nor matches `skip`. */
export function callerModule(skip: RegExp): string | undefined {
  for (const line of (new Error().stack ?? '').split('\n').slice(1)) {
    const m = /((?:file:\/\/)?\/[^\s()]+?\.(?:ts|js|mjs|mts|cjs|cts))(?:\?[^\s():]*)?:\d+:\d+/.exec(line);
    const file = m?.[1];
    if (file && !skip.test(file) && !/caller-module\.[tj]s$/.test(file)) return sourcePath(file);
  }
  return undefined;
}
