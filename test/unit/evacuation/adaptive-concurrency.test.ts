import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptiveConcurrency } from '../../../sdk/evacuation/adaptive-concurrency.ts';

const MiB = 1024 ** 2;

/** Feeds every running migration samples every 100 ms for `ms`, each at `perMigration(count)` bytes/s. */
function run(limiter: AdaptiveConcurrency, ids: string[], from: number, ms: number, perMigration: (count: number) => number, remaining = (t: number) => 1e9 - t * 1e5, pass = 1): number {
  let t = from;
  for (; t <= from + ms; t += 100) for (const id of ids) limiter.sample(id, t, { active: true, throughput: perMigration(ids.length), remainingBytes: remaining(t), pass });
  return t;
}

test('starts one, then another while aggregate throughput grows, and stops at the first level that does not pay', () => {
  const limiter = new AdaptiveConcurrency({ windowMs: 1000 });
  // A link that carries 100 MiB/s per migration up to 2, then saturates at 200 in total.
  const share = (count: number) => Math.min(100, 200 / count) * MiB;
  assert.equal(limiter.decide(0).start, true);
  limiter.started('a', 0);
  assert.equal(limiter.decide(100).start, false, 'measuring: no full window yet');
  let t = run(limiter, ['a'], 0, 1200, share);
  assert.deepEqual([limiter.decide(t).start, /try 2/.test(limiter.decide(t).reason)], [true, true]);
  limiter.started('b', t);
  t = run(limiter, ['a', 'b'], t, 1200, share);
  assert.equal(limiter.decide(t).start, true, '200 vs 100 MiB/s: grew');
  limiter.started('c', t);
  t = run(limiter, ['a', 'b', 'c'], t, 1200, share);
  const decision = limiter.decide(t);
  assert.equal(decision.start, false);
  assert.match(decision.reason, /no gain, ceiling 2/);
  assert.equal(limiter.ceiling, 2);
  limiter.ended('c', t);
  assert.equal(limiter.decide(t).start, false, 'at the ceiling');
  limiter.ended('b', t);
  assert.equal(limiter.decide(t).start, true, 'a slot below a proven level refills at once');
});

test('a migration that stops converging lowers the ceiling', () => {
  const limiter = new AdaptiveConcurrency({ windowMs: 1000 });
  limiter.started('a', 0);
  let t = run(limiter, ['a'], 0, 1200, () => 50 * MiB);
  assert.equal(limiter.decide(t).start, true);
  limiter.started('b', t);
  // Pass 3 and remaining bytes growing: the guest outruns its share.
  t = run(limiter, ['a', 'b'], t, 1200, () => 60 * MiB, (time) => 1e8 + time * 1e4, 3);
  const decision = limiter.decide(t);
  assert.equal(decision.start, false);
  assert.match(decision.reason, /stopped converging: ceiling 1/);
});

test('never more than max; inactive samples (setup) do not count as a measurement', () => {
  const limiter = new AdaptiveConcurrency({ max: 1, windowMs: 1000 });
  limiter.started('a', 0);
  assert.match(limiter.decide(5000).reason, /ceiling of 1/);
  const other = new AdaptiveConcurrency({ windowMs: 1000 });
  other.started('a', 0);
  for (let t = 0; t < 2000; t += 100) other.sample('a', t, { active: false, throughput: 0, remainingBytes: 1e9, pass: 0 });
  assert.equal(other.decide(2000).start, false);
});
