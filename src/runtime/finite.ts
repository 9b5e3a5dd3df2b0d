/**
 * The one check that keeps a diverged computation from becoming an image: every float tensor in
 * a node's outputs must be finite. Run by the executor after nodes that declare `finiteOutputs`,
 * before their outputs are cached, passed on or saved.
 */
import * as tf from '@tensorflow/tfjs';
import { tensorsIn } from './values.js';

export interface NonFinite {
  port: string;
  count: number;
}

/** The first output port holding NaN or infinity, with how many such values it holds. */
export async function findNonFinite(outputs: Record<string, unknown>): Promise<NonFinite | undefined> {
  for (const [port, value] of Object.entries(outputs)) {
    let count = 0;
    for (const t of tensorsIn(value)) {
      if (t.dtype !== 'float32') continue;
      const bad = tf.tidy(() => tf.sum(tf.cast(tf.logicalNot(tf.isFinite(t)), 'int32')));
      count += (await bad.data())[0] ?? 0;
      bad.dispose();
    }
    if (count > 0) return { port, count };
  }
  return undefined;
}

/** "after step 3/3" from the node's last progress report, or "" when it reported none. */
export function describeStep(last: { step?: number; total?: number } | undefined): string {
  if (last?.step === undefined) return '';
  return ` after step ${last.step}${last.total !== undefined ? `/${last.total}` : ''}`;
}
