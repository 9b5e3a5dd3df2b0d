/**
 * KID against closed forms: (1) point masses, where every kernel value is known, exactly; (2)
 * Gaussian feature sets N(mu, I) and N(nu, I), whose squared MMD under the cubic kernel follows
 * from Gaussian moments (derived below): the mean of the unbiased estimate over 40 seeded draws
 * must lie within 4 standard errors of it, and identical distributions must give 0 within
 * 4 standard errors (the estimator is unbiased, so no positive floor).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kid, polynomialKernel } from '../../src/metric/kid.js';
import { Rng } from '../../src/util/random.js';

const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * (b[i] as number), 0);

/**
 * E[(x.y/d + 1)^3] for independent x ~ N(mu, I), y ~ N(nu, I) in d dimensions, from
 * E[x.y] = mu.nu, E[(x.y)^2] = (mu.nu)^2 + |mu|^2 + |nu|^2 + d and
 * E[(x.y)^3] = (mu.nu)^3 + 3 (mu.nu)(|mu|^2 + |nu|^2) + 3 d (mu.nu) + 6 mu.nu.
 */
function expectedKernel(mu: number[], nu: number[]): number {
  const d = mu.length;
  const mn = dot(mu, nu);
  const m1 = mn;
  const m2 = mn * mn + dot(mu, mu) + dot(nu, nu) + d;
  const m3 = mn ** 3 + 3 * mn * (dot(mu, mu) + dot(nu, nu)) + 3 * d * mn + 6 * mn;
  return 1 + (3 * m1) / d + (3 * m2) / d ** 2 + m3 / d ** 3;
}

const gaussianSet = (rng: Rng, mean: number[], n: number) =>
  Array.from({ length: n }, () => Float64Array.from(mean, (m) => m + rng.normal()));

test('kid of two point masses is k(a, a) + k(b, b) - 2 k(a, b) exactly', () => {
  const a = Float64Array.from([1, 2, 0.5]);
  const b = Float64Array.from([-1, 0, 3]);
  const k = (u: Float64Array, v: Float64Array) => (dot([...u], [...v]) / 3 + 1) ** 3;
  const expected = k(a, a) + k(b, b) - 2 * k(a, b);
  const r = kid(
    Array.from({ length: 6 }, () => a),
    Array.from({ length: 9 }, () => b),
    { subsets: 5, subsetSize: 4 },
  );
  assert.ok(Math.abs(r.full - expected) < 1e-9 * Math.abs(expected), `${r.full} vs ${expected}`);
  assert.ok(Math.abs(r.kid - expected) < 1e-9 * Math.abs(expected));
  assert.ok(r.std < 1e-9 * Math.abs(expected));
  assert.equal(polynomialKernel([a], [b])[0], k(a, b));
});

test('kid matches the Gaussian closed form on average, and is unbiased at 0 for one distribution', () => {
  const rng = new Rng(11);
  const mu = [0.8, -0.3, 0, 0.5];
  const nu = [0, 0, 0, 0];
  const closed = expectedKernel(mu, mu) + expectedKernel(nu, nu) - 2 * expectedKernel(mu, nu);
  const shifted: number[] = [];
  const same: number[] = [];
  for (let r = 0; r < 40; r++) {
    shifted.push(
      kid(gaussianSet(rng, mu, 120), gaussianSet(rng, nu, 150), { subsets: 1, subsetSize: 2 }).full,
    );
    same.push(kid(gaussianSet(rng, nu, 120), gaussianSet(rng, nu, 150), { subsets: 1, subsetSize: 2 }).full);
  }
  const stats = (v: number[]) => {
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1));
    return { mean, se: sd / Math.sqrt(v.length) };
  };
  const s = stats(shifted);
  const z = stats(same);
  assert.ok(closed > 0.1, `the closed form is clearly positive (${closed})`);
  assert.ok(Math.abs(s.mean - closed) < 4 * s.se, `mean ${s.mean} ± ${s.se} vs closed form ${closed}`);
  assert.ok(Math.abs(z.mean) < 4 * z.se, `same distribution: mean ${z.mean} ± ${z.se}`);
  assert.ok(s.se < closed / 5, 'the test has the power to tell them apart');
});

test('kid subsets: seeded, sized as asked, and bad input is refused', () => {
  const rng = new Rng(2);
  const x = gaussianSet(rng, [1, 0], 30);
  const y = gaussianSet(rng, [0, 0], 40);
  const a = kid(x, y, { subsets: 10, subsetSize: 20, rng: new Rng(5) });
  const b = kid(x, y, { subsets: 10, subsetSize: 20, rng: new Rng(5) });
  assert.deepEqual(a, b);
  assert.equal(a.subsetSize, 20);
  assert.ok(a.std > 0);
  assert.throws(() => kid(x, y, { subsetSize: 31 }), /subset size 31 must be in \[2, 30\]/);
  assert.throws(() => kid([x[0] as Float64Array], y), /at least 2/);
  assert.throws(() => kid(x, [...y, Float64Array.from([1])]), /y\[40\] has 1 features, expected 2/);
});
