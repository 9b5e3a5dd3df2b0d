/**
 * Turning a `path` parameter into the list of image files a source node streams.
 *
 * The parameter is, in this order of precedence:
 *  - an existing file: that one file (whatever its extension; reading checks the content);
 *  - an existing folder: the PNG, JPEG and WebP files directly inside it (not recursive, no dotfiles);
 *  - otherwise a glob (`images/*.png`, `data/**\/*.{jpg,png}`): the matching PNG/JPEG/WebP files.
 * Relative paths resolve against `baseDir` (the pipeline file's folder). Only names are listed
 * here; no image is opened, so a folder of thousands of images costs one directory read.
 *
 * Order is "natural" on the path relative to the search root (img2 before img10), independent of
 * locale and file-system order, so item order and keys are the same on every machine.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import { ImageIOError } from './errors.js';

const GLOB_SYNTAX = /[*?[\]{}()!]/;

export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg', '.webp'];

export interface ImageSource {
  /** Unique item key: the file stem, with `-2`, `-3`, ... appended to repeated stems. */
  key: string;
  /** Absolute path of the file. */
  path: string;
}

export interface ResolveSourcesOptions {
  /** Folder that relative paths and patterns start from. Default: the current directory. */
  baseDir?: string;
  /** Keep only the first `limit` files (after sorting). */
  limit?: number;
}

export function isImageFileName(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

/** Compare strings with digit runs taken as numbers ('img2' < 'img10'); ties broken by code units. */
export function naturalCompare(a: string, b: string): number {
  const re = /(\d+)|(\D+)/g;
  const pa = a.match(re) ?? [];
  const pb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i] as string;
    const y = pb[i] as string;
    if (x === y) continue;
    const xd = /^\d/.test(x);
    const yd = /^\d/.test(y);
    if (xd && yd) {
      // Compare as numbers without overflow: strip leading zeros, then length, then digits.
      const xs = x.replace(/^0+(?=\d)/, '');
      const ys = y.replace(/^0+(?=\d)/, '');
      if (xs.length !== ys.length) return xs.length - ys.length;
      if (xs !== ys) return xs < ys ? -1 : 1;
      continue;
    }
    return x < y ? -1 : 1;
  }
  if (pa.length !== pb.length) return pa.length - pb.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Keys for files in their final order: the stem (name without its last extension). A stem seen
 * before gets the first free `-2`, `-3`, ... suffix, so `a/x.png, b/x.png` give `x, x-2`.
 */
export function assignKeys(paths: readonly string[]): string[] {
  const stems = paths.map((p) => basename(p, extname(p)) || basename(p));
  // Reserve every plain stem first, so a suffixed key never takes a name a later file owns.
  const taken = new Set<string>(stems);
  const seen = new Set<string>();
  const keys: string[] = [];
  for (const stem of stems) {
    if (!seen.has(stem)) {
      seen.add(stem);
      keys.push(stem);
      continue;
    }
    let n = 2;
    while (taken.has(`${stem}-${n}`)) n++;
    taken.add(`${stem}-${n}`);
    keys.push(`${stem}-${n}`);
  }
  return keys;
}

async function statOrUndefined(path: string): Promise<Awaited<ReturnType<typeof stat>> | undefined> {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

async function listFolder(folder: string, pattern: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  const files = entries
    .filter((e) => !e.name.startsWith('.') && isImageFileName(e.name) && (e.isFile() || e.isSymbolicLink()))
    .map((e) => e.name)
    .sort(naturalCompare);
  if (files.length === 0) {
    throw new ImageIOError(
      pattern,
      `no images in folder '${pattern}' (looked for ${IMAGE_EXTENSIONS.join(', ')})`,
    );
  }
  return files.map((f) => join(folder, f));
}

async function expandGlob(pattern: string, baseDir: string): Promise<string[]> {
  // Glob from the longest literal prefix, so '../data/*.png' and absolute patterns work and the
  // sort key (the path below that root) does not depend on where the pipeline file lives.
  // A segment counts as dynamic if it holds any glob syntax at all, so that a brace group spanning
  // a '/' ('{a/x,b/y}.png') is never split into a literal prefix.
  const segments = pattern.split('/');
  let firstDynamic = segments.findIndex((s) => GLOB_SYNTAX.test(s));
  if (firstDynamic < 0) firstDynamic = segments.length - 1;
  const prefix = segments.slice(0, firstDynamic).join('/');
  const root = resolve(baseDir, prefix === '' && pattern.startsWith('/') ? '/' : prefix || '.');
  const rest = segments.slice(firstDynamic).join('/');
  const matches = await glob(rest, { cwd: root, onlyFiles: true, expandDirectories: false, dot: false });
  const images = matches.filter(isImageFileName).sort(naturalCompare);
  if (images.length === 0) {
    const why =
      matches.length === 0
        ? 'matches no files'
        : `matches ${matches.length} file(s) but none is a PNG, JPEG or WebP image`;
    throw new ImageIOError(pattern, `image pattern '${pattern}' ${why} (searched from '${root}')`);
  }
  return images.map((m) => join(root, m));
}

/**
 * Resolve a file, folder or glob to the sorted image files it names, with their item keys.
 * Throws ImageIOError naming the pattern when nothing matches.
 */
export async function resolveImageSources(
  pattern: string,
  opts: ResolveSourcesOptions = {},
): Promise<ImageSource[]> {
  if (typeof pattern !== 'string' || pattern.trim() === '') {
    throw new ImageIOError(String(pattern), 'image path is empty');
  }
  const baseDir = resolve(opts.baseDir ?? process.cwd());
  const literal = resolve(baseDir, pattern);
  const info = await statOrUndefined(literal);
  let files: string[];
  if (info?.isFile()) files = [literal];
  else if (info?.isDirectory()) files = await listFolder(literal, pattern);
  else if (isDynamicPattern(pattern)) files = await expandGlob(pattern, baseDir);
  else {
    throw new ImageIOError(pattern, `image path '${pattern}' not found (resolved to '${literal}')`);
  }
  if (opts.limit !== undefined) {
    if (!Number.isInteger(opts.limit) || opts.limit < 1) {
      throw new ImageIOError(
        pattern,
        `image path '${pattern}': limit must be a positive integer, got ${String(opts.limit)}`,
      );
    }
    files = files.slice(0, opts.limit);
  }
  const keys = assignKeys(files);
  return files.map((path, i) => ({ key: keys[i] as string, path }));
}
