import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxThrottleFor, nextThrottleStep, throttleSleepMs } from '../../../sdk/migration/policy/throttle-pause.ts';

test("QEMU's throttle sleep: 10 ms at 50 %, 990 ms at 99 %", () => {
  assert.equal(throttleSleepMs(0), 0);
  assert.equal(throttleSleepMs(50), 10);
  assert.equal(Math.round(throttleSleepMs(99)), 990);
});

test('the throttle ferry asks for keeps its sleep within half the budget', () => {
  assert.equal(maxThrottleFor(300), 90);
  assert.equal(maxThrottleFor(1000), 98);
  assert.equal(maxThrottleFor(2000), 99);
  assert.equal(maxThrottleFor(50), 50, 'a throttle must bite even on a tiny budget');
});

test('steps go 50, 80, then up to the maximum', () => {
  assert.equal(nextThrottleStep(1, 90), 50);
  assert.equal(nextThrottleStep(50, 90), 80);
  assert.equal(nextThrottleStep(80, 90), 90);
  assert.equal(nextThrottleStep(90, 90), undefined);
  assert.equal(nextThrottleStep(80, 99), 90);
});
