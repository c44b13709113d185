import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkRate, planningThroughput } from '../../../sdk/migration/policy/link-rate.ts';

const MiB = 1024 ** 2;

test('link rate: the lower of each look\'s two measures, the best seen in the migration', () => {
  const link = new LinkRate();
  assert.equal(link.update(0, 0), 0, 'nothing measured yet');
  assert.equal(link.update(200 * MiB, 300 * MiB), 200 * MiB, 'the lower measure counts');
  assert.equal(link.update(400 * MiB, 500 * MiB), 400 * MiB, 'a better look counts at once');
});

test('link rate: an idle guest\'s tiny passes and zero-page scans, read low on the wire, do not sink it', () => {
  const link = new LinkRate();
  link.update(200 * MiB, 200 * MiB);
  for (let i = 0; i < 60; i++) link.update(1 * MiB, 0.5 * MiB);
  assert.equal(link.planning, 200 * MiB);
});

test('planning throughput is the lower known measure', () => {
  assert.equal(planningThroughput(100, 50), 50);
  assert.equal(planningThroughput(0, 50), 50);
  assert.equal(planningThroughput(0, Number.NaN), 0);
});

test('link rate: QEMU\'s own bandwidth is kept at its peak, what its switchover threshold may use when it decides', () => {
  const link = new LinkRate();
  assert.equal(link.qemuPeak, 0);
  link.update(300 * MiB, 800 * MiB);
  link.update(300 * MiB, 350 * MiB);
  link.update(300 * MiB, 0); // unknown
  assert.equal(link.qemuPeak, 800 * MiB);
  assert.equal(link.planning, 300 * MiB, 'the rate to plan the pause with is still the lower measure');
});
