import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PassStats } from '../../../sdk/migration/policy/convergence-policy.ts';
import { hopelessAtMaximum, nearFit, nextThrottleStep, PASSES_AT_MAXIMUM } from '../../../sdk/migration/policy/throttle-steps.ts';

const MiB = 1024 ** 2;

test('steps go 50, 80, 90, 95, 99 without rates, and end at 99 %', () => {
  assert.equal(nextThrottleStep(1), 50);
  assert.equal(nextThrottleStep(50), 80);
  assert.equal(nextThrottleStep(80), 90);
  assert.equal(nextThrottleStep(95), 99);
  assert.equal(nextThrottleStep(99), undefined);
});

test('the first step goes where the rates say: a guest dirtying twice what a pass clears wants 75 %, so 80', () => {
  assert.equal(nextThrottleStep(1, 130 * MiB, 64 * MiB), 80);
  assert.equal(nextThrottleStep(1, 1000 * MiB, 10 * MiB), 99);
  assert.equal(nextThrottleStep(1, 40 * MiB, 64 * MiB), 50, 'a guest slower than the link still gets the first step');
  assert.equal(nextThrottleStep(80, 130 * MiB, 64 * MiB), 90, 'never the same step twice');
});

function pass(n: number, endMiB: number, throttlePercent = 99): PassStats {
  // 64 MiB cleared in a second: three 300 ms budgets are 57.6 MiB.
  return { pass: n, startedAtMs: n * 1000, durationMs: 1000, startRemainingBytes: 64 * MiB, endRemainingBytes: endMiB * MiB, sentBytes: 64 * MiB, dirtyRate: 60 * MiB, throughput: 64 * MiB, throttlePercent, downtimeLimitMs: 300 };
}

test('a pass near a fit: its set within three budgets of what it cleared', () => {
  assert.equal(nearFit(pass(2, 50), 300), true);
  assert.equal(nearFit(pass(2, 64), 300), false);
});

test('ferry gives up at 99 % only after 8 passes QEMU ran at 99 %, none near a fit', () => {
  const far = Array.from({ length: PASSES_AT_MAXIMUM }, (_, i) => pass(i + 2, 64));
  assert.equal(hopelessAtMaximum(far, 300), true);
  assert.equal(hopelessAtMaximum(far.slice(1), 300), false, 'seven passes are not enough');
  assert.equal(hopelessAtMaximum([...far.slice(0, 4), pass(6, 20), ...far.slice(5)], 300), false, 'one pass came near');
  assert.equal(hopelessAtMaximum([...far.slice(0, 7), pass(9, 64, 95)], 300), false, 'QEMU applied 95 % on the last pass');
});
