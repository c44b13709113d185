import { test } from 'node:test';
import assert from 'node:assert/strict';
import { downtimeOverrun } from '../../../sdk/migration/downtime-overrun.ts';
import { throttleSleepMs } from '../../../sdk/migration/policy/throttle-steps.ts';

test('a pause over maxDowntime is an overrun with its likeliest cause; within it, or accepted, it is none', () => {
  // bench/pause-overrun.ts, move 25: 997 ms at 99 %, the gate had estimated 60 ms.
  const throttled = downtimeOverrun({ downtimeMs: 997, maxDowntimeMs: 300, estimate: { estimateMs: 60, throttlePercent: 99 } });
  assert.equal(throttled?.byMs, 697);
  assert.match(throttled?.reason ?? '', /^QEMU paused the guest 997 ms, over maxDowntime 300 ms \(ferry's estimate at the pause: 60 ms\): QEMU was throttling the guest at 99 %, and a throttle sleep \(990 ms at 99 %\)/);
  // A throttle whose sleep cannot account for the overrun is not blamed.
  const unthrottled = downtimeOverrun({ downtimeMs: 670, maxDowntimeMs: 300, estimate: { estimateMs: 120, throttlePercent: 50 } });
  assert.match(unthrottled?.reason ?? '', /pages the guest wrote between QEMU's last dirty-bitmap sync and its stop/);
  assert.equal(downtimeOverrun({ downtimeMs: 300, maxDowntimeMs: 300 }), undefined);
  assert.equal(downtimeOverrun({ downtimeMs: 2000, maxDowntimeMs: 300, accepted: 'pause' }), undefined);
  assert.equal(downtimeOverrun({ downtimeMs: 900, maxDowntimeMs: 300, accepted: 'post-copy' }), undefined);
  assert.equal(throttleSleepMs(99), 990);
  assert.equal(throttleSleepMs(95), 190);
  assert.equal(throttleSleepMs(0), 0);
});
