/**
 * Which folders flow may replace. Every output folder flow writes carries a marker file listing
 * the files it wrote; a later run replaces a folder only if it carries the marker and holds
 * nothing else, and removes exactly the listed files. Any other non-empty folder is refused.
 */
import { lstat, readFile, readdir, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { FlowError } from '../graph/errors.js';
import { processAlive } from '../util/process-alive.js';

export const OUTPUT_MARKER = '.flow-output.json';

export interface OutputMarker {
  flow: 'output';
  run: string;
  pipeline?: string;
  created: string;
  files: string[];
}

const WAY_OUT = 'choose another folder with --out DIR (or move its files away yourself)';

function refuse(target: string, why: string): never {
  throw new FlowError(`output folder '${target}' ${why}; ${WAY_OUT}`);
}

/** Files under `dir`, relative, posix-separated; symlinks count as files (never followed). */
async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesUnder(path.join(dir, e.name), rel)));
    else out.push(rel);
  }
  return out.sort();
}

async function readMarker(dir: string): Promise<OutputMarker | undefined> {
  try {
    const m = JSON.parse(await readFile(path.join(dir, OUTPUT_MARKER), 'utf8')) as Partial<OutputMarker>;
    return m.flow === 'output' && Array.isArray(m.files) ? (m as OutputMarker) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Throw unless `target` may receive a run's output: absent, an empty folder, or a folder a previous
 * flow run wrote that holds only what that run wrote. Returns the previous run's marker, if any.
 */
export async function checkOutputTarget(target: string): Promise<OutputMarker | undefined> {
  const cwd = process.cwd();
  const rel = path.relative(target, cwd);
  if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel)))
    refuse(target, 'is the current folder or contains it');
  if (target === path.parse(target).root || target === homedir()) refuse(target, 'is a root or home folder');
  let info;
  try {
    info = await lstat(target);
  } catch {
    return undefined;
  }
  if (!info.isDirectory()) refuse(target, 'is a file');
  const present = await filesUnder(target);
  if (present.length === 0) return undefined;
  const marker = await readMarker(target);
  const own = new Set([...(marker?.files ?? []), OUTPUT_MARKER]);
  const foreign = marker ? present.filter((f) => !own.has(f)) : present;
  if (foreign.length > 0) {
    const shown =
      foreign.slice(0, 3).join(', ') + (foreign.length > 3 ? `, ... ${foreign.length} in all` : '');
    refuse(target, `holds files flow did not write (${shown})`);
  }
  return marker;
}

/** Remove exactly the files a marker lists (and the marker), then the folders left empty. */
export async function removeOwnOutput(dir: string, marker: OutputMarker): Promise<void> {
  const folders = new Set<string>();
  for (const f of [...marker.files, OUTPUT_MARKER]) {
    const file = path.resolve(dir, f);
    if (!file.startsWith(dir + path.sep)) continue;
    await unlink(file).catch(() => undefined);
    for (let d = path.dirname(file); d.startsWith(dir + path.sep); d = path.dirname(d)) folders.add(d);
  }
  // Deepest first; rmdir refuses a folder that still holds anything.
  for (const d of [...folders].sort((a, b) => b.length - a.length)) await rmdir(d).catch(() => undefined);
  await rmdir(dir).catch(() => undefined);
}

/** A staging folder's name: hidden, beside the target, with the writing process's id. */
export function stagingName(target: string, pid: number, tag: string): string {
  return `.${path.basename(target)}.partial-${pid}-${tag}`;
}

const STALE_MS = 60 * 60 * 1000;

/**
 * Staging folders left by killed runs for the same target: flow's name pattern, flow's marker
 * inside, and either the writing process is gone or the folder is over an hour old.
 */
export async function removeStaleStaging(target: string): Promise<string[]> {
  const parent = path.dirname(target);
  const pattern = new RegExp(
    `^\\.${path.basename(target).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.partial-(\\d+)-[0-9a-f]{6}(\\.old)?$`,
  );
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = pattern.exec(name);
    if (!m) continue;
    const dir = path.join(parent, name);
    const info = await stat(dir).catch(() => undefined);
    if (!info?.isDirectory() || !(await readMarker(dir))) continue;
    if (processAlive(Number(m[1])) && Date.now() - info.mtimeMs < STALE_MS) continue;
    await rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

/** Whether the marker of flow's output folder `dir` lists `file` (a path inside it) as flow's own. */
export async function outputFolderOwns(dir: string, file: string): Promise<boolean> {
  const rel = path.relative(dir, file).split(path.sep).join('/');
  if (rel.startsWith('..') || path.isAbsolute(rel)) return false;
  const marker = await readMarker(dir);
  return marker !== undefined && marker.files.includes(rel);
}

/**
 * Add `file` (a path inside the output folder `dir`) to the folder's marker, so that a file a later
 * command writes there (a report) is flow's own: a next run may replace the folder, and the same
 * command may replace the file. A folder without a marker is left as it is.
 */
export async function recordOutputFile(dir: string, file: string): Promise<void> {
  const rel = path.relative(dir, file).split(path.sep).join('/');
  if (rel.startsWith('..') || path.isAbsolute(rel)) return;
  const marker = await readMarker(dir);
  if (!marker || marker.files.includes(rel)) return;
  const next: OutputMarker = { ...marker, files: [...marker.files, rel].sort() };
  const markerFile = path.join(dir, OUTPUT_MARKER);
  const tmp = `${markerFile}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(next, null, 2) + '\n');
  await rename(tmp, markerFile);
}
