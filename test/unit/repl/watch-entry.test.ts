import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MigrationRecord } from '../../../sdk/index.ts';
import { RecordTracker } from '../../../repl/watch/watch-entry.ts';

function record(overrides: Partial<MigrationRecord> = {}, percent = 10): MigrationRecord {
  return {
    id: 'r1', vm: 'web', source: 'a', destination: 'b', controller: { host: 'ops1', pid: 4242 },
    startedAt: '2026-01-01T00:00:00.000Z', heartbeatAt: '2026-01-01T00:00:09.000Z', phase: 'perform',
    progress: { percent, transferredBytes: percent * 1000, remainingBytes: 1000, totalBytes: 100_000, throughput: percent * 10, dirtyRate: 5, pass: 1, phase: 'perform', transfer: 'transferring', expectedDowntimeMs: 100, throttlePercent: 0, elapsedMs: 1000 },
    ...overrides,
  };
}

const t0 = Date.parse('2026-01-01T00:00:10.000Z');

test("records become entries of another process's migration, a sparkline cell a second", () => {
  const tracker = new RecordTracker();
  tracker.update([record({}, 10)], t0);
  tracker.update([record({}, 20)], t0 + 300); // too soon for a new cell: the newest one follows
  tracker.update([record({ actions: [{ action: 'raise downtime limit', reason: 'slow', atMs: 1 }] }, 30)], t0 + 1000);
  const [entry] = tracker.entries();
  assert.ok(entry);
  assert.equal(entry.label, 'a/web');
  assert.deepEqual(entry.owner, { kind: 'other', host: 'ops1', pid: 4242 });
  assert.deepEqual(entry.throughput, [200, 300]);
  assert.equal(entry.progress?.percent, 30);
  assert.equal(entry.heartbeatAgeMs, 2000);
  assert.deepEqual(entry.lastAction, { action: 'raise downtime limit', reason: 'slow' });
  assert.equal(entry.ended, undefined);
});

test('a record that goes away ends its entry, unless its host could not be read', () => {
  const tracker = new RecordTracker();
  tracker.update([record()], t0);
  tracker.update([], t0 + 1000, new Set(['a']));
  assert.equal(tracker.entries()[0]?.ended, undefined, 'an unreachable host ends nothing');
  tracker.update([], t0 + 2000);
  assert.equal(tracker.entries()[0]?.ended?.outcome, 'ended');
  tracker.settle('r1', { outcome: 'completed', text: 'now runs on b', at: t0 + 2000 });
  assert.equal(tracker.entries()[0]?.ended?.text, 'now runs on b');
  tracker.prune(t0 + 2000 + 61_000, 60_000);
  assert.deepEqual(tracker.entries(), []);
});

test("the latest note of a record's progress is kept after the record moves on", () => {
  const tracker = new RecordTracker();
  const withNote = record();
  (withNote.progress as { note?: string }).note = 'pass 2: downtime-limit 195 → 300 ms (slow)';
  tracker.update([withNote], t0);
  tracker.update([record()], t0 + 1000);
  assert.equal(tracker.entries()[0]?.lastNote, 'pass 2: downtime-limit 195 → 300 ms (slow)');
});

test('records without usable progress still show their phase', () => {
  const tracker = new RecordTracker();
  tracker.update([record({ phase: 'prepare', progress: 'garbage' })], t0);
  assert.equal(tracker.entries()[0]?.phase, 'prepare');
  assert.equal(tracker.entries()[0]?.progress, undefined);
});
