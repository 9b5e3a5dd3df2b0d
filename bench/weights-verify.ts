/**
 * What checking a model folder's weights costs on load (sha256 of each weights file and the
 * finiteness scan), against reading the folder without the checks, in the same process:
 * the embedded models, and a large synthetic 1 GiB float32 tensor.
 *
 *   node --import tsx bench/weights-verify.ts
 */
import path from 'node:path';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { loadModelFolder } from '../src/models/folder.js';
import { nonFiniteWeight, sha256Hex } from '../src/models/weights-check.js';
import type { TensorMap } from '../src/checkpoint/types.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

for (const name of (await readdir(path.join(REPO, 'models'))).sort()) {
  const t0 = process.hrtime.bigint();
  const folder = await loadModelFolder(path.join(REPO, 'models', name));
  const total = ms(t0);
  let bytes = 0;
  for (const t of folder.tensors.values()) bytes += t.data.byteLength;
  const data = new Uint8Array(bytes);
  const t1 = process.hrtime.bigint();
  sha256Hex(data);
  const hash = ms(t1);
  const t2 = process.hrtime.bigint();
  nonFiniteWeight(folder.tensors, name);
  const scan = ms(t2);
  console.log(
    `${name}: ${(bytes / 2 ** 20).toFixed(1)} MiB; load ${total.toFixed(0)} ms, of it sha256 ~${hash.toFixed(0)} ms and finiteness ${scan.toFixed(0)} ms`,
  );
}

const big = new Float32Array(2 ** 28); // 1 GiB
for (let i = 0; i < big.length; i += 4097) big[i] = i;
const tensors: TensorMap = new Map([['big', { dtype: 'float32', shape: [big.length], data: big }]]);
const t1 = process.hrtime.bigint();
sha256Hex(new Uint8Array(big.buffer));
const hash = ms(t1);
const t2 = process.hrtime.bigint();
nonFiniteWeight(tensors, 'big');
const scan = ms(t2);
console.log(`1 GiB float32: sha256 ${hash.toFixed(0)} ms, finiteness ${scan.toFixed(0)} ms`);
