// The rolling upgrade's journal: what a resumed run decides from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nextStep, progressOf, readUpgradeJournal, unfinishedUpgrade, UpgradeJournal, type UpgradeJournalEntry, type UpgradeJournalLine } from '../../../sdk/upgrade/upgrade-journal.ts';

const begin: UpgradeJournalEntry = { kind: 'upgrade-begin', hosts: ['a', 'b'], homes: { web: 'a', db: 'b' }, command: 'up' };

function lines(run: string, entries: UpgradeJournalEntry[]): UpgradeJournalLine[] {
  return entries.map((entry) => ({ ...entry, at: 't', run }));
}

test('each host goes on with the first step that has not succeeded', () => {
  const steps = (entries: UpgradeJournalEntry[]) => nextStep(progressOf(lines('u', [begin, ...entries]), lines('u', [begin])[0] as never).hosts.get('a'));
  assert.equal(nextStep(undefined), 'evacuate');
  assert.equal(steps([{ kind: 'host-begin', host: 'a' }]), 'evacuate', 'begun: its evacuation resumes itself');
  assert.equal(steps([{ kind: 'host-begin', host: 'a' }, { kind: 'evacuated', host: 'a', evacuation: 'e', moves: [{ vm: 'web', to: 'b' }] }]), 'hook');
  const evacuated: UpgradeJournalEntry[] = [{ kind: 'host-begin', host: 'a' }, { kind: 'evacuated', host: 'a', evacuation: 'e', moves: [{ vm: 'web', to: 'b' }] }];
  assert.equal(steps([...evacuated, { kind: 'hook-start', host: 'a', command: 'up' }]), 'hook', 'a hook that never reported runs again');
  assert.equal(steps([...evacuated, { kind: 'hook-start', host: 'a', command: 'up' }, { kind: 'hook-end', host: 'a', ok: false, exitCode: 1, outputTail: 'E: broken', durationMs: 5 }]), 'hook', 'a failed hook runs again');
  const upgraded: UpgradeJournalEntry[] = [...evacuated, { kind: 'hook-start', host: 'a', command: 'up' }, { kind: 'hook-end', host: 'a', ok: true, exitCode: 0, outputTail: '', durationMs: 5 }];
  assert.equal(steps(upgraded), 'verify', 'a hook that succeeded is never run again');
  assert.equal(steps([...upgraded, { kind: 'verified', host: 'a', qemuVersion: '10.0.2' }]), 'return');
  assert.equal(steps([...upgraded, { kind: 'verified', host: 'a' }, { kind: 'host-done', host: 'a' }]), 'done');
  assert.equal(steps([...upgraded, { kind: 'verified', host: 'a' }, { kind: 'host-done', host: 'a' }, { kind: 'host-begin', host: 'a', redo: true }]), 'evacuate', 'asked to run it again: the whole turn');
});

test('returns in flight, VMs already home, and homes of VMs that came later', () => {
  const all = lines('u', [
    begin,
    { kind: 'host-begin', host: 'a' },
    { kind: 'evacuated', host: 'a', evacuation: 'e', moves: [{ vm: 'web', to: 'b' }, { vm: 'late', to: 'b' }] },
    { kind: 'return-start', host: 'a', vm: 'web', from: 'b', migrationId: 'm1' },
    { kind: 'returned', host: 'a', vm: 'web', from: 'b' },
    { kind: 'return-start', host: 'a', vm: 'late', from: 'b', migrationId: 'm2' },
  ]);
  const progress = progressOf(all, all[0] as never);
  const a = progress.hosts.get('a');
  assert.deepEqual([...(a?.returned.keys() ?? [])], ['web']);
  assert.deepEqual([...(a?.openReturns.keys() ?? [])], ['late'], 'its run died during this one: recover it first');
  assert.equal(a?.openReturns.get('late')?.migrationId, 'm2');
  assert.deepEqual(progress.homes, { web: 'a', db: 'b', late: 'a' }, 'a VM found on a host when it was evacuated belongs there');
  const failed = progressOf([...all, ...lines('u', [{ kind: 'return-failed', host: 'a', vm: 'late', from: 'b', message: 'x' }])], all[0] as never);
  assert.equal(failed.hosts.get('a')?.openReturns.size, 0, 'a failed return is settled (its VM is where the error said)');
});

test('the upgrade to resume is the last one that never ended; other runs\' lines do not count', () => {
  const old = lines('u1', [begin, { kind: 'host-begin', host: 'a' }, { kind: 'upgrade-end', status: 'completed' }]);
  assert.equal(unfinishedUpgrade(old), undefined);
  const stopped = lines('u2', [begin, { kind: 'host-begin', host: 'b' }, { kind: 'stopped', status: 'failed', host: 'b', step: 'hook', message: 'exit 1' }]);
  const other = lines('u1', [{ kind: 'host-done', host: 'b' }]);
  const resumed = unfinishedUpgrade([...old, ...stopped, ...other]);
  assert.equal(resumed?.id, 'u2', 'a stopped upgrade is resumed: a failure is not an end');
  assert.equal(resumed?.hosts.get('b')?.done, false);
  assert.equal(resumed?.hosts.has('a'), false);
  assert.equal(unfinishedUpgrade([...stopped, ...lines('u2', [{ kind: 'upgrade-end', status: 'abandoned' }])]), undefined);
});

test('the journal file: whole lines appended, a line torn by a crash skipped, evacuation lines left out', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-upgrade-journal-'));
  const path = join(dir, 'nested', 'journal.jsonl');
  const journal = new UpgradeJournal(path, 'u');
  journal.append(begin);
  appendFileSync(path, JSON.stringify({ at: 't', run: 'e', kind: 'moved', vm: 'web', from: 'a', to: 'b' }) + '\n');
  appendFileSync(path, '{"at":"t","run":"u","kind":"host-be');
  journal.append({ kind: 'host-begin', host: 'a' });
  assert.deepEqual(readUpgradeJournal(path).map((line) => line.kind), ['upgrade-begin', 'host-begin']);
  writeFileSync(join(dir, 'empty.jsonl'), '');
  assert.deepEqual(readUpgradeJournal(join(dir, 'empty.jsonl')), []);
  assert.deepEqual(readUpgradeJournal(join(dir, 'none.jsonl')), []);
});
