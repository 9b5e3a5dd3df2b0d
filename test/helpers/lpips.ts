/**
 * The official LPIPS weights in ../shared/reference/lpips (third-party test data, not part of the
 * product): where they are, a skip reason when they are absent, and an imported model folder.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { importLpipsSqueeze } from '../../src/models/lpips-import.js';

export const LPIPS_REF = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../shared/reference/lpips',
);

/** For `test(name, { skip: lpipsSkip }, ...)`: false when the weights are there. */
export const lpipsSkip: string | false = existsSync(path.join(LPIPS_REF, 'squeeze.pth'))
  ? false
  : `no LPIPS reference weights at ${LPIPS_REF}`;

/** An LPIPS (squeeze) model folder at `out`, from the official files. */
export async function importReferenceLpips(out: string): Promise<string> {
  await importLpipsSqueeze({
    lin: path.join(LPIPS_REF, 'squeeze.pth'),
    backbone: path.join(LPIPS_REF, 'squeeze.backbone.pth'),
    out,
  });
  return out;
}
