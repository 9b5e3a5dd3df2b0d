/**
 * The UNets ask for exactly the state_dict keys and shapes of full-size official configurations
 * (LSUN LDM UNets, EDM ImageNet-64), listed by scripts/fixtures/unets.py from the PyTorch
 * reference modules (whose listings equal the official code's). No weights are allocated: a
 * recording store notes every request and hands out a shared placeholder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backends.js';
import { OpenAIUNet, type OpenAIUNetConfig } from '../../src/networks/unet-openai.js';
import { DhariwalUNet, type DhariwalUNetConfig } from '../../src/networks/unet-dhariwal.js';
import { WeightStore } from '../../src/networks/weights.js';

type Listing = Record<string, { config: Record<string, unknown>; keys: [string, number[]][] }>;

/** A WeightStore that records (key, checkpoint shape) requests instead of reading tensors. */
class RecordingStore extends WeightStore {
  readonly requested: [string, number[]][] = [];
  private readonly dummies: tf.Tensor[] = [];

  constructor(private readonly available: Set<string>) {
    super(new Map());
  }

  override has(name: string): boolean {
    return this.available.has(name);
  }

  override raw(name: string, shape: readonly number[]): tf.Tensor {
    this.requested.push([name, [...shape]]);
    // Resample filters are read back and checked: give them EDM's [1, 1] filter.
    const t = name.endsWith('.resample_filter') ? tf.fill([...shape], 0.25) : tf.scalar(0);
    this.dummies.push(t);
    return t;
  }

  override take(name: string, shape: readonly number[]): tf.Tensor {
    return this.raw(name, shape);
  }

  override conv2d(name: string, outCh: number, inCh: number, kh: number, kw: number): tf.Tensor4D {
    return this.raw(name, [outCh, inCh, kh, kw]) as tf.Tensor4D;
  }

  override linear(name: string, outF: number, inF: number, asConv1x1 = false): tf.Tensor2D {
    return this.raw(name, asConv1x1 ? [outF, inF, 1, 1] : [outF, inF]) as tf.Tensor2D;
  }

  override dispose(): void {
    tf.dispose(this.dummies);
    this.dummies.length = 0;
  }
}

const listing = JSON.parse(
  readFileSync(new URL('../fixtures/networks/unet-keys.json', import.meta.url), 'utf8'),
) as Listing;

for (const [name, entry] of Object.entries(listing)) {
  test(`${name}: requested keys and shapes equal the official state_dict`, async () => {
    await useBackend('cpu');
    const store = new RecordingStore(new Set(entry.keys.map(([k]) => k)));
    if (name.startsWith('openai:')) new OpenAIUNet(store, entry.config as unknown as OpenAIUNetConfig);
    else new DhariwalUNet(store, entry.config as unknown as DhariwalUNetConfig);
    store.dispose();
    const asText = (ks: [string, number[]][]) => ks.map(([k, s]) => `${k} ${JSON.stringify(s)}`).sort();
    assert.deepEqual(asText(store.requested), asText(entry.keys));
  });
}
