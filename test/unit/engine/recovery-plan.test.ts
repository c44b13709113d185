import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planRecovery } from '../../../sdk/migration/recovery-plan.ts';
import { locationOf, type QemuSide } from '../../../sdk/migration/vm-location.ts';
import type { MigrationStatus, RunState } from '../../../sdk/qmp/index.ts';

const src = (runState: RunState, migration: MigrationStatus = 'none'): QemuSide => ({ host: 'a', reachable: true, present: true, runState, migration });
const dst = (runState: RunState, migration: MigrationStatus = 'none'): QemuSide => ({ host: 'b', reachable: true, present: true, runState, migration });
const gone = (host: string): QemuSide => ({ host, reachable: true, present: false });
const unreachable = (host: string): QemuSide => ({ host, reachable: false, present: false, note: 'connection refused' });
const steps = (plan: ReturnType<typeof planRecovery>) => plan.map((step) => step.step);

test('before switchover the guest belongs to the source: cancel, resume, undo, end the destination', () => {
  for (const status of ['setup', 'active', 'pre-switchover', 'wait-unplug', 'device'] as const) {
    assert.deepEqual(steps(planRecovery(src('finish-migrate', status), dst('inmigrate', 'active'))), ['cancel-source', 'cont-source', 'restore-source', 'end-destination', 'release-lock'], status);
  }
  assert.deepEqual(steps(planRecovery(src('running', 'active'), unreachable('b'))), ['cancel-source', 'cont-source', 'restore-source', 'release-lock'], 'an unreachable destination cannot have the guest yet');
});

test('the commit point: a completed source never runs again unless the destination is proven gone', () => {
  assert.deepEqual(steps(planRecovery(src('postmigrate', 'completed'), dst('running', 'completed'))), ['quit-source', 'release-lock']);
  assert.deepEqual(steps(planRecovery(src('postmigrate', 'completed'), dst('paused', 'completed'))), ['cont-destination', 'quit-source', 'release-lock']);
  assert.deepEqual(steps(planRecovery(src('postmigrate', 'completed'), gone('b'))), ['cont-source', 'restore-source', 'release-lock'], 'host reached, no QEMU: proven gone');
  assert.deepEqual(steps(planRecovery(src('postmigrate', 'completed'), unreachable('b'))), ['refuse'], 'unreachable is never proof');
  assert.deepEqual(steps(planRecovery(src('postmigrate', 'completed'), dst('inmigrate', 'active'))), ['refuse']);
});

test('post-copy is never cancelled: it is waited for, or resumed when both halves are paused', () => {
  assert.deepEqual(steps(planRecovery(src('finish-migrate', 'postcopy-active'), dst('running', 'postcopy-active'))), ['wait']);
  assert.deepEqual(steps(planRecovery(src('finish-migrate', 'postcopy-paused'), dst('running', 'postcopy-paused'))), ['resume-postcopy']);
  assert.deepEqual(steps(planRecovery(src('finish-migrate', 'postcopy-paused'), gone('b'))), ['refuse']);
  assert.deepEqual(steps(planRecovery(src('finish-migrate', 'postcopy-active'), unreachable('b'))), ['refuse']);
});

test('no transfer in flight: keep whichever copy runs, end the other; two running copies are refused, never guessed', () => {
  assert.deepEqual(steps(planRecovery(src('running', 'cancelled'), dst('inmigrate', 'failed'))), ['restore-source', 'end-destination', 'release-lock']);
  assert.deepEqual(steps(planRecovery(src('running', 'none'), gone('b'))), ['restore-source', 'release-lock']);
  assert.deepEqual(steps(planRecovery(src('running', 'failed'), dst('running', 'completed'))), ['refuse']);
  assert.deepEqual(steps(planRecovery(src('postmigrate', 'failed'), dst('running', 'completed'))), ['quit-source', 'release-lock']);
  assert.deepEqual(steps(planRecovery(src('postmigrate', 'failed'), dst('paused', 'completed'))), ['cont-destination', 'quit-source', 'release-lock']);
  assert.deepEqual(steps(planRecovery(src('postmigrate', 'cancelled'), gone('b'))), ['cont-source', 'restore-source', 'release-lock']);
  assert.deepEqual(steps(planRecovery(src('paused', 'none'), gone('b'))), ['restore-source', 'release-lock'], 'a guest paused by its owner stays paused');
});

test('the source QEMU gone: the destination keeps the guest only if it has all of it', () => {
  assert.deepEqual(steps(planRecovery(gone('a'), dst('running', 'completed'))), ['release-lock']);
  assert.deepEqual(steps(planRecovery(gone('a'), dst('paused', 'completed'))), ['cont-destination', 'release-lock']);
  assert.deepEqual(steps(planRecovery(gone('a'), dst('inmigrate', 'active'))), ['end-destination', 'release-lock']);
  assert.deepEqual(steps(planRecovery(gone('a'), unreachable('b'))), ['refuse']);
});

test('a source that cannot be read is never acted on', () => {
  assert.deepEqual(steps(planRecovery(unreachable('a'), dst('inmigrate'))), ['refuse']);
  assert.deepEqual(steps(planRecovery({ host: 'a', reachable: true, present: true, note: 'QMP busy' }, dst('inmigrate'))), ['refuse']);
});

test('where the VM is, from both sides: two running copies are said plainly', () => {
  assert.equal(locationOf(src('running'), dst('inmigrate')), 'running-on-source');
  assert.equal(locationOf(src('postmigrate', 'completed'), dst('running')), 'running-on-destination');
  assert.equal(locationOf(src('running'), dst('running')), 'running-on-both');
  assert.equal(locationOf(src('finish-migrate', 'pre-switchover'), dst('inmigrate', 'active')), 'paused-on-source');
  assert.equal(locationOf(src('postmigrate', 'completed'), dst('paused', 'completed')), 'paused-on-destination');
  assert.equal(locationOf(src('finish-migrate', 'postcopy-paused'), dst('running', 'postcopy-paused')), 'postcopy-paused', 'running, but waiting for pages');
  assert.equal(locationOf(src('finish-migrate', 'postcopy-paused'), dst('paused', 'postcopy-paused')), 'postcopy-paused');
  assert.equal(locationOf(gone('a'), gone('b')), 'not-found');
  assert.equal(locationOf(gone('a'), unreachable('b')), 'unknown');
});
