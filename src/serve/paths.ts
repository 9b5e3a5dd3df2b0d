/** Where `flow serve` finds what it ships: the page, the pipelines and the test images. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: this file is src/serve/paths.ts (tsx) or dist/serve/paths.js (built). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const WEB_DIR = path.join(PACKAGE_ROOT, 'web');
export const PIPELINES_DIR = path.join(PACKAGE_ROOT, 'pipelines');
export const ASSETS_DIR = path.join(PACKAGE_ROOT, 'assets');

/** The test images the page offers, relative to ASSETS_DIR. */
export const TEST_IMAGE_GLOBS = ['fashion/*.png', 'images/64/*.png'];

/** `rel` inside `root` (no '..', no absolute path, no NUL), or undefined. */
export function insideFolder(root: string, rel: string): string | undefined {
  if (rel.includes('\0') || path.isAbsolute(rel)) return undefined;
  const abs = path.resolve(root, rel);
  return abs.startsWith(root + path.sep) ? abs : undefined;
}
