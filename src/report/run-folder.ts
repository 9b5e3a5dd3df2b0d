/**
 * A finished run's output folder as the report needs it: run.json checked for the fields a report
 * reads, and a reader for the files it lists that refuses any path leading outside the folder.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunSummary } from '../runtime/events.js';

export interface RunFiles {
  /** Bytes of a file listed in run.json, by its relative path. */
  read(rel: string): Promise<Uint8Array>;
}

export interface RunRecord {
  dir: string;
  summary: RunSummary;
  files: RunFiles;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The checks that keep the renderer honest: the top-level shape a flow run.json always has. */
function checkSummary(v: unknown, where: string): asserts v is RunSummary {
  if (!isRecord(v)) throw new Error(`${where}: not a JSON object`);
  const need = ['pipeline', 'params', 'nodeParams', 'backend', 'versions', 'nodes', 'metrics', 'cache'];
  for (const k of need)
    if (!isRecord(v[k])) throw new Error(`${where}: '${k}' missing (not a flow run.json?)`);
  if (!Array.isArray(v.files) || !v.files.every((f) => typeof f === 'string'))
    throw new Error(`${where}: 'files' missing (not a flow run.json?)`);
  if (typeof v.ms !== 'number' || typeof v.started !== 'string')
    throw new Error(`${where}: 'ms' or 'started' missing (not a flow run.json?)`);
}

export async function readRunFolder(dir: string): Promise<RunRecord> {
  const root = path.resolve(dir);
  const jsonPath = path.join(root, 'run.json');
  let text: string;
  try {
    text = await readFile(jsonPath, 'utf8');
  } catch {
    throw new Error(`${dir}: no run.json (not a flow output folder)`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${jsonPath}: ${e instanceof Error ? e.message : String(e)}`);
  }
  checkSummary(parsed, jsonPath);
  const summary = parsed;
  const listed = new Set(summary.files);
  return {
    dir: root,
    summary,
    files: {
      async read(rel) {
        const abs = path.resolve(root, rel);
        if (!listed.has(rel) || !abs.startsWith(root + path.sep))
          throw new Error(`${jsonPath}: '${rel}' is not a file of this run`);
        return readFile(abs);
      },
    },
  };
}
