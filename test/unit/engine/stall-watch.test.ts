import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StallWatch } from '../../../sdk/migration/stall-watch.ts';
import type { MigrationInfo } from '../../../sdk/qmp/index.ts';

const active = (transferred: number): MigrationInfo => ({ status: 'active', ram: { transferred } } as MigrationInfo);

test('a transfer that keeps sending never stalls; one that stops for the whole timeout does', () => {
  const watch = new StallWatch(1000);
  assert.equal(watch.stalled(active(1), 0), false);
  assert.equal(watch.stalled(active(2), 900), false);
  assert.equal(watch.stalled(active(3), 1800), false);
  assert.equal(watch.stalled(active(3), 2700), false, '900 ms without progress is within the timeout');
  assert.equal(watch.stalled(active(3), 2801), true);
});

test('a pause before switchover or post-copy is never a stall, and resets the clock', () => {
  const watch = new StallWatch(1000);
  watch.stalled(active(5), 0);
  assert.equal(watch.stalled({ status: 'pre-switchover', ram: { transferred: 5 } } as MigrationInfo, 5000), false);
  assert.equal(watch.stalled({ status: 'postcopy-active', ram: { transferred: 5 } } as MigrationInfo, 9000), false);
  assert.equal(watch.stalled(active(5), 9500), false);
  assert.equal(watch.stalled(active(5), 10_600), true);
});
