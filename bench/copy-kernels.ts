/**
 * The wasm copy kernels flow replaces (Reverse, Unpack, Slice) against the stock ones, in the same
 * process: CPU time of the conv-kernel flip, the attention head split and large slices.
 *
 *   node --import tsx bench/copy-kernels.ts
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/runtime/backend.js';
import { registerWasmKernels, unregisterWasmKernels } from '../src/runtime/kernels/index.js';

function cpuMs(f: () => void, reps = 3): number {
  f();
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < reps; i++) f();
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1000 / reps);
  }
  return best;
}

await initBackend('wasm');
const w = tf.randomNormal([3, 3, 512, 512], 0, 1, 'float32', 3);
const heads = tf.randomNormal([80, 256, 24], 0, 1, 'float32', 2);
const big = tf.zeros([9, 512, 512]);
const cases: [string, () => void][] = [
  ['Reverse [3,3,512,512] on [0,1]', () => tf.reverse(w, [0, 1]).dispose()],
  ['Unpack [80,256,24]', () => tf.dispose(tf.unstack(heads))],
  [
    '9 x Slice of [9,512,512]',
    () => {
      for (let i = 0; i < 9; i++) tf.slice(big, [i, 0, 0], [1, 512, 512]).dispose();
    },
  ],
];
console.log('CPU ms per call (best of 3 x 3): stock wasm kernel vs flow replacement');
for (const [name, f] of cases) {
  unregisterWasmKernels();
  const stock = cpuMs(f);
  registerWasmKernels();
  const ours = cpuMs(f);
  console.log(
    `  ${name.padEnd(32)} stock ${stock.toFixed(1).padStart(7)}  flow ${ours.toFixed(1).padStart(7)}  speed-up ${(stock / ours).toFixed(1)}x`,
  );
}
tf.dispose([w, heads, big]);
