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
  // bench/busy-guest.ts on QEMU 7.2, move 15: 0.25 MB reported at the pause, 55 MB sent in it, throttled at 95 %.
  const unseen = downtimeOverrun({ downtimeMs: 403, maxDowntimeMs: 300, estimate: { estimateMs: 119, throttlePercent: 95, remainingBytes: 249_856 }, downtimeBytes: 55_174_176 });
  assert.match(unseen?.reason ?? '', /: QEMU sent 52\.6 MiB in the pause where 244\.0 KiB were left when it paused: pages the guest wrote between QEMU's last dirty-bitmap sync and its stop, which the gate cannot see; and QEMU was throttling the guest at 95 %/);
  // What was left, sent: nothing unseen to blame.
  const sentAsReported = downtimeOverrun({ downtimeMs: 997, maxDowntimeMs: 300, estimate: { estimateMs: 60, throttlePercent: 99, remainingBytes: 2_000_000 }, downtimeBytes: 2_400_000 });
  assert.match(sentAsReported?.reason ?? '', /: QEMU was throttling the guest at 99 %/);
  // The guard read the vCPU's sleep at the pause, 4 ms into it: the pause's end follows the sleep's, not ferry's estimate.
  const measured = downtimeOverrun({ downtimeMs: 999, maxDowntimeMs: 300, estimate: { estimateMs: 90, throttlePercent: 99, vcpuSleepMs: 980, waitedMs: 4 } });
  assert.match(measured?.reason ?? '', /: a vCPU was in QEMU's throttle sleep \(99 %\) until 984 ms after the stop \(the guard read it at the pause\): .* the guest would not have run sooner on the source \(a QEMU defect\); the switchover took 15 ms beyond it$/);
  // The guard looked and saw no sleep: the throttle is not blamed.
  const none = downtimeOverrun({ downtimeMs: 997, maxDowntimeMs: 300, estimate: { estimateMs: 60, throttlePercent: 99, vcpuSleepMs: 0, waitedMs: 3 } });
  assert.doesNotMatch(none?.reason ?? '', /throttle sleep/);
  assert.equal(downtimeOverrun({ downtimeMs: 300, maxDowntimeMs: 300 }), undefined);
  assert.equal(downtimeOverrun({ downtimeMs: 2000, maxDowntimeMs: 300, accepted: 'pause' }), undefined);
  assert.equal(downtimeOverrun({ downtimeMs: 900, maxDowntimeMs: 300, accepted: 'post-copy' }), undefined);
  assert.equal(throttleSleepMs(99), 990);
  assert.equal(throttleSleepMs(95), 190);
  assert.equal(throttleSleepMs(0), 0);
});
