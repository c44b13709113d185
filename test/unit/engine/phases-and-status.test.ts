import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIGRATION_TRANSITIONS, assertTransition, isFinalPhase, type MigrationPhase } from '../../../sdk/migration/migration-phase.ts';
import { isTransferOver, transferState } from '../../../sdk/migration/qemu-migration-status.ts';
import { MigrationError, PreflightError } from '../../../sdk/migration/migration-errors.ts';
import { formatBytes, parseBandwidth } from '../../../sdk/migration/byte-units.ts';

test('every QEMU 7.2 to 10.0 migration status maps to ours, and a future one to unknown', () => {
  const expected: Record<string, string> = {
    none: 'idle', setup: 'setting-up', active: 'transferring', 'wait-unplug': 'transferring', 'pre-switchover': 'switching-over',
    device: 'switching-over', 'postcopy-active': 'postcopy', 'postcopy-paused': 'postcopy', 'postcopy-recover': 'postcopy',
    completed: 'completed', cancelling: 'cancelling', cancelled: 'cancelled', failed: 'failed', colo: 'unknown',
    // 9.1+: the destination sets up a broken post-copy's new channel.
    'postcopy-recover-setup': 'postcopy',
    'some-future-status': 'unknown',
  };
  for (const [status, state] of Object.entries(expected)) assert.equal(transferState(status), state, status);
  assert.equal(transferState(undefined), 'idle');
  assert.deepEqual(['completed', 'cancelled', 'failed'].map((s) => isTransferOver(transferState(s))), [true, true, true]);
});

test('phases move only along the table, and end states are final', () => {
  assert.doesNotThrow(() => assertTransition('pending', 'preflight'));
  assert.throws(() => assertTransition('perform', 'preflight'));
  assert.throws(() => assertTransition('completed', 'failed'));
  for (const phase of Object.keys(MIGRATION_TRANSITIONS) as MigrationPhase[]) {
    assert.equal(isFinalPhase(phase), ['completed', 'failed', 'cancelled'].includes(phase), phase);
  }
});

test('migration errors say where the VM runs, in words and in fields', () => {
  const error = new MigrationError('X', { vm: 'web', source: 'a', destination: 'b', phase: 'perform', vmState: 'running-on-source' }, 'boom');
  assert.match(error.message, /boom \[a\/web → b, phase perform; the VM is running on a\]/);
  assert.equal(error.toJSON()['vmState'], 'running-on-source');
  const missing = new PreflightError({ vm: 'web', source: 'a', destination: 'b' }, [{ check: 'source-vm', ok: false, message: 'no VM' }]);
  assert.equal(missing.vmState, 'not-found');
  assert.match(missing.message, /nothing was changed/);
});

test('bandwidth strings: bytes with B, bits with b or bit', () => {
  assert.equal(parseBandwidth('64MiB/s'), 64 * 1024 ** 2);
  assert.equal(parseBandwidth('1.5 GB/s'), 1.5e9);
  assert.equal(parseBandwidth('800Mbit/s'), 1e8);
  assert.equal(parseBandwidth('10Gbps'), 1.25e9);
  assert.equal(parseBandwidth('1048576'), 1048576);
  assert.equal(parseBandwidth(5e6), 5e6);
  for (const bad of ['fast', '', '-5MB/s', 'MB/s', 0, Number.NaN]) assert.equal(parseBandwidth(bad), undefined, String(bad));
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(512), '512 B');
});
