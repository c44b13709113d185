import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { awayFromHome, defaultJournalPath, Journal, readJournal, unfinishedRun } from '../../../sdk/evacuation/evacuation-journal.ts';

test('append-only lines; a torn last line is skipped; an unfinished run is found with its moves and in-flight VMs', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'ferry-journal-')), 'sub', 'a.jsonl');
  const first = new Journal(path, 'r1');
  first.append({ kind: 'begin', mode: 'evacuate', host: 'a' });
  first.append({ kind: 'start', vm: 'w1', from: 'a', to: 'b', attempt: 1, migrationId: 'm1' });
  first.append({ kind: 'moved', vm: 'w1', from: 'a', to: 'b', attempt: 1, downtimeMs: 10, wallTimeMs: 3000, transferredBytes: 1 });
  first.append({ kind: 'start', vm: 'w2', from: 'a', to: 'c', attempt: 1, migrationId: 'm2' });
  appendFileSync(path, '{"kind":"moved","run":"r1","vm":"w2"'); // killed mid-write
  const lines = readJournal(path);
  assert.equal(lines.length, 4);
  assert.equal(readFileSync(path, 'utf8').split('\n').length, 5);
  const run = unfinishedRun(lines, 'a', 'evacuate');
  assert.ok(run);
  assert.deepEqual([...run.moved.keys()], ['w1']);
  assert.deepEqual(run.inFlight.map((s) => [s.vm, s.migrationId]), [['w2', 'm2']]);
  assert.equal(unfinishedRun(lines, 'b', 'evacuate'), undefined);
  const resumed = new Journal(path, 'r1');
  resumed.append({ kind: 'end', status: 'completed', moved: 1, failed: 0, skipped: 0 });
  assert.equal(unfinishedRun(readJournal(path), 'a', 'evacuate'), undefined, 'an ended run is not resumed');
  assert.deepEqual(readJournal(join(tmpdir(), 'no-such-ferry-journal.jsonl')), []);
});

test('awayFromHome follows evacuations and move-backs, so a VM comes home once', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'ferry-journal-')), 'a.jsonl');
  const evac = new Journal(path, 'e1');
  evac.append({ kind: 'begin', mode: 'evacuate', host: 'a' });
  evac.append({ kind: 'moved', vm: 'w1', from: 'a', to: 'b', attempt: 1, downtimeMs: 1, wallTimeMs: 1, transferredBytes: 1 });
  evac.append({ kind: 'recovered', vm: 'w2', from: 'a', to: 'c', outcome: 'moved', note: '' });
  evac.append({ kind: 'recovered', vm: 'w3', from: 'a', to: 'c', outcome: 'on-source', note: '' });
  evac.append({ kind: 'end', status: 'completed', moved: 2, failed: 0, skipped: 0 });
  assert.deepEqual([...awayFromHome(readJournal(path), 'a')].map(([vm, { to }]) => [vm, to]), [['w1', 'b'], ['w2', 'c']]);
  const back = new Journal(path, 'm1');
  back.append({ kind: 'begin', mode: 'move-back', host: 'a' });
  back.append({ kind: 'moved', vm: 'w1', from: 'b', to: 'a', attempt: 1, downtimeMs: 1, wallTimeMs: 1, transferredBytes: 1 });
  assert.deepEqual([...awayFromHome(readJournal(path), 'a').keys()], ['w2']);
});

test('the default journal lives in the state directory, one file per host', () => {
  assert.equal(defaultJournalPath('a', { FERRY_STATE_DIR: '/var/lib/ferry' }), '/var/lib/ferry/evacuations/a.jsonl');
  assert.equal(defaultJournalPath('a', { XDG_STATE_HOME: '/s' }), '/s/ferry/evacuations/a.jsonl');
});
