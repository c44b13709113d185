import { test } from 'node:test';
import assert from 'node:assert/strict';
import { downtimeBudgetCheck } from '../../../sdk/migration/downtime-budget-check.ts';
import { DISK_COPY_SWITCHOVER_OVERHEAD_MS } from '../../../sdk/migration/storage/disk-copy.ts';

test('a maxDowntime the switchover\'s fixed cost fills is refused, saying what to do; one above it passes', () => {
  const refused = downtimeBudgetCheck({ maxDowntime: 50, switchoverCost: 50 }, false);
  assert.equal(refused.ok, false);
  assert.equal(refused.check, 'downtime-budget');
  assert.match(refused.message, /^maxDowntime 50 ms cannot be kept: a switchover pauses the guest 50 ms before any memory is sent \(switchoverCost 50 ms\), so the downtime guarantee would cancel it after the whole transfer; allow more than 50 ms, or set switchoverCost/);
  assert.equal(downtimeBudgetCheck({ maxDowntime: 51, switchoverCost: 50 }, false).ok, true);
  assert.equal(downtimeBudgetCheck({ maxDowntime: 50, switchoverCost: 15 }, false).ok, true, 'hosts measured faster');
});

test('copying disks adds the mirrors\' finish to the cost', () => {
  const withDisks = downtimeBudgetCheck({ maxDowntime: 100, switchoverCost: 50 }, true);
  assert.equal(withDisks.ok, false);
  assert.match(withDisks.message, new RegExp(`pauses the guest ${50 + DISK_COPY_SWITCHOVER_OVERHEAD_MS} ms .*switchoverCost 50 ms \\+ ${DISK_COPY_SWITCHOVER_OVERHEAD_MS} ms to finish the disk mirrors`));
  assert.equal(downtimeBudgetCheck({ maxDowntime: 300, switchoverCost: 50 }, true).ok, true);
});
