import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkRate } from '../../../sdk/migration/policy/link-rate.ts';

const MiB = 1024 ** 2;

test('link rate: the lower of each look\'s two measures, held as a peak that halves every 5 s while there is plenty to send', () => {
  const link = new LinkRate();
  assert.equal(link.update(0, 256 * MiB, 0, 0), 0, 'nothing measured yet');
  assert.equal(link.update(100, 256 * MiB, 200 * MiB, 300 * MiB), 200 * MiB, 'the lower measure counts');
  assert.ok(Math.abs(link.update(5100, 256 * MiB, 10 * MiB, 0) - 100 * MiB) < MiB, 'five seconds on with plenty to send: half of the old peak');
  assert.equal(link.update(5200, 256 * MiB, 400 * MiB, 500 * MiB), 400 * MiB, 'a new peak counts at once');
});

test('link rate: a pass with little left to send says nothing about the link, so the figure holds', () => {
  const link = new LinkRate();
  link.update(0, 256 * MiB, 200 * MiB, 200 * MiB);
  for (let t = 1000; t <= 30_000; t += 1000) link.update(t, 0.4 * MiB, 1 * MiB, 4 * MiB);
  assert.equal(link.planning, 200 * MiB, 'thirty seconds of an idle guest\'s tiny passes');
});
