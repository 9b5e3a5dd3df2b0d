/** The runs already in the output folder (any run.json one level down), newest first. */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunSummary } from '../runtime/events.js';

export interface PastRun {
  folder: string;
  pipeline: string;
  started: string;
  ms: number;
  files: string[];
  metrics: RunSummary['metrics'];
}

/** Folder names the server hands out and accepts: no separators, no leading dot. */
export const RUN_FOLDER = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export async function listPastRuns(outDir: string): Promise<PastRun[]> {
  let names: string[];
  try {
    names = await readdir(outDir);
  } catch {
    return [];
  }
  const runs: PastRun[] = [];
  for (const folder of names.filter((n) => RUN_FOLDER.test(n))) {
    try {
      const s = JSON.parse(await readFile(path.join(outDir, folder, 'run.json'), 'utf8')) as RunSummary;
      runs.push({
        folder,
        pipeline: s.pipeline.name,
        started: s.started,
        ms: s.ms,
        files: s.files,
        metrics: s.metrics,
      });
    } catch {
      // not a run folder
    }
  }
  return runs.sort((a, b) => b.started.localeCompare(a.started));
}
