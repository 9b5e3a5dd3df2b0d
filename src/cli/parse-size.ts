/** '500M', '10G', '2048' (bytes) -> bytes; binary units. */
import { FlowError } from '../graph/errors.js';

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(text.trim());
  if (!m) throw new FlowError(`'${text}' is not a size (e.g. 500M, 10G or a number of bytes)`);
  return Math.floor(Number(m[1]) * (UNITS[(m[2] as string).toUpperCase()] as number));
}
