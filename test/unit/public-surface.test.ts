// The public surface is pinned: adding or removing an export of 'ferry' is
// a decision, made here on purpose, not a side effect of a refactor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ferry from '../../sdk/index.ts';

const EXPECTED = [
  'AbortedError', 'ChannelOpenError', 'CommandFailedError', 'CommandTimeoutError', 'ConfigError', 'Evacuation',
  'EvacuationOptionsError', 'FerryError', 'Fleet', 'Host', 'HostKeyMismatchError', 'HostKeyRevokedError',
  'HostKeyUnknownError', 'InvalidNameError', 'MAINTENANCE_MARKER', 'MIGRATION_OPTION_TABLE', 'Migration',
  'MigrationCancelledError', 'MigrationError', 'MigrationNotSteerableError', 'MigrationOptionsError', 'MigrationTlsError', 'POLICY_PRESETS',
  'PreflightError', 'QmpClient', 'QmpCommandError', 'QmpDisconnectedError', 'QmpError', 'QmpProtocolError',
  'QmpStateError', 'QmpTimeoutError', 'RollingUpgrade', 'RollingUpgradeOptionsError', 'SshAuthError', 'SshConfigError', 'SshConnectError', 'SshConnectionLostError',
  'TooLateError', 'TransportClosedError', 'TransportError', 'UnknownHostError', 'Vm', 'VmAlreadyRunningError',
  'VmLaunchError', 'VmNotFoundError', 'configure', 'defaultJournalPath', 'defaultUpgradeJournalPath', 'definePolicy', 'disconnect',
  'ferryConfigSchema', 'formatBytes', 'host', 'hosts', 'parseBandwidth', 'quote', 'readJournal', 'readMigrationRecords', 'readUpgradeJournal', 'rollingUpgrade', 'sh',
];

test("sdk/index.ts exports exactly the public surface", () => {
  assert.deepEqual(Object.keys(ferry).sort(), [...EXPECTED].sort());
});

test('every error class the SDK exports is a FerryError with a stable code', () => {
  for (const [name, value] of Object.entries(ferry)) {
    if (typeof value === 'function' && name.endsWith('Error') && name !== 'FerryError') {
      assert.ok(value.prototype instanceof ferry.FerryError, `${name} extends FerryError`);
    }
  }
});
