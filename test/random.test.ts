import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, hashSeed } from '../src/util/random.js';

test('Rng is deterministic per seed and differs across seeds', () => {
  const a = new Rng(42).normalArray(1000);
  const b = new Rng(42).normalArray(1000);
  const c = new Rng(43).normalArray(1000);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('Rng normals have mean 0 and variance 1 (n = 200k, 5 sigma bounds)', () => {
  const n = 200_000;
  const x = new Rng(7).normalArray(n);
  let s = 0;
  let s2 = 0;
  for (const v of x) {
    s += v;
    s2 += v * v;
  }
  const mean = s / n;
  const variance = s2 / n - mean * mean;
  assert.ok(Math.abs(mean) < 5 / Math.sqrt(n), `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 5 * Math.sqrt(2 / n), `variance ${variance}`);
});

test('hashSeed separates labels', () => {
  assert.notEqual(hashSeed(1, 'a'), hashSeed(1, 'b'));
  assert.notEqual(hashSeed(1, 'a'), hashSeed(2, 'a'));
  assert.equal(hashSeed(1, 'a'), hashSeed(1, 'a'));
});
