/** Timing shared by the benchmarks: median wall and process-CPU milliseconds after a warm-up. */
import type * as tf from '@tensorflow/tfjs';

/** Median wall-clock and process-CPU milliseconds of one measurement. */
export interface Timing {
  wall: number;
  cpu: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/**
 * Median over `reps` runs of `f` (its output read back, then disposed), after one warm-up run
 * when `warmUp`. CPU time sits next to wall time because the machine is shared: tfjs wasm runs on
 * one thread, so its CPU time is the time it would take on an idle core.
 */
export function timeMedian(reps: number, warmUp: boolean, f: () => tf.Tensor): Timing {
  const once = (): Timing => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const out = f();
    out.dataSync();
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    out.dispose();
    return { wall, cpu: (c.user + c.system) / 1000 };
  };
  if (warmUp) once();
  const ts: Timing[] = [];
  for (let i = 0; i < reps; i++) ts.push(once());
  return { wall: median(ts.map((t) => t.wall)), cpu: median(ts.map((t) => t.cpu)) };
}
