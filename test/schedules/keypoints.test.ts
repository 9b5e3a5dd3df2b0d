import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PAPER_KEYPOINTS,
  describeKeypoints,
  edm,
  keypointsBySnr,
  validateKeypoints,
  vpDiscrete,
} from '../../src/schedules/index.js';

test('paper keypoints are valid on their schedules and sit near SNR [0.2, 0.5] (LDM: 0.27..0.74)', () => {
  const vp = vpDiscrete();
  const e = edm();
  assert.deepEqual(validateKeypoints(vp, PAPER_KEYPOINTS.ldm[4]), [550, 500, 450, 400]);
  assert.deepEqual(validateKeypoints(e, PAPER_KEYPOINTS.edm[4]), [5, 4, 3.5, 2.5, 2]);
  const info = describeKeypoints(vp, PAPER_KEYPOINTS.ldm[2]);
  assert.equal(info[0]?.snr.toFixed(3), '0.272');
  assert.equal(info[1]?.snr.toFixed(3), '0.738');
  const einfo = describeKeypoints(e, PAPER_KEYPOINTS.edm[2]);
  assert.equal(einfo[0]?.snr, 1 / 25);
  assert.equal(einfo[1]?.snr, 1 / 4);
});

test('keypointsBySnr picks decreasing times inside the requested SNR range', () => {
  const vp = vpDiscrete();
  const k = keypointsBySnr(vp, { count: 3 });
  assert.equal(k.length, 3);
  assert.ok((k[0] as number) > (k[1] as number) && (k[1] as number) > (k[2] as number));
  // Rounding to integer steps moves SNR by at most one step's change (~0.3% here).
  assert.ok(Math.abs(vp.snr(k[0] as number) / 0.2 - 1) < 0.01, `SNR at T_e ${vp.snr(k[0] as number)}`);
  assert.ok(Math.abs(vp.snr(k[2] as number) / 0.5 - 1) < 0.01, `SNR at T_s ${vp.snr(k[2] as number)}`);
});

test('validateKeypoints rejects bad input with clear messages', () => {
  const vp = vpDiscrete();
  assert.throws(() => validateKeypoints(vp, [400]), /at least 2/);
  assert.throws(() => validateKeypoints(vp, [400, 550]), /strictly decreasing/);
  assert.throws(() => validateKeypoints(vp, [550, 550]), /strictly decreasing/);
  assert.throws(() => validateKeypoints(vp, [550.5, 400]), /keypoints\[0\] = 550.5: .*integer/);
  assert.throws(() => validateKeypoints(vp, [1200, 400]), /keypoints\[0\] = 1200: .*outside/);
  assert.throws(() => validateKeypoints(edm(), [100, 2]), /outside \[0.002, 80\]/);
});
