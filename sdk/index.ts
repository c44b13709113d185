/**
 * ferry: live-migrate running QEMU/KVM virtual machines between hosts.
 * This is the one public entry; everything a user imports comes from here.
 */
export { host, hosts, configure, disconnect, rollingUpgrade } from './api/fleet-functions.ts';
export { HostHandle as Host } from './api/host-handle.ts';
export { VmHandle as Vm } from './api/vm-handle.ts';
export { Fleet } from './model/fleet.ts';
export { Migration } from './migration/migration.ts';
export { MIGRATION_OPTION_TABLE } from './migration/migration-options.ts';
export { POLICY_PRESETS, definePolicy } from './migration/policy/index.ts';
export { parseBandwidth, formatBytes } from './migration/byte-units.ts';
export { readMigrationRecords } from './migration/migration-lock.ts';
export { ferryConfigSchema } from './model/config-schema.ts';
export { Evacuation, EvacuationOptionsError, MAINTENANCE_MARKER, readJournal, defaultJournalPath } from './evacuation/index.ts';
export { RollingUpgrade, RollingUpgradeOptionsError, defaultUpgradeJournalPath, readUpgradeJournal } from './upgrade/index.ts';

export { FerryError, AbortedError } from './ferry-error.ts';
export { ConfigError, UnknownHostError, VmNotFoundError, InvalidNameError, VmAlreadyRunningError, VmLaunchError } from './model/model-errors.ts';
export { MigrationError, PreflightError, MigrationCancelledError, MigrationOptionsError, TooLateError } from './migration/migration-errors.ts';
export { MigrationNotSteerableError } from './migration/steer-src.ts';
export { MigrationTlsError } from './migration/tls/tls-errors.ts';
export {
  TransportError, CommandFailedError, CommandTimeoutError, SshConnectError, SshAuthError, HostKeyUnknownError,
  HostKeyMismatchError, HostKeyRevokedError, SshConnectionLostError, SshConfigError, ChannelOpenError, TransportClosedError,
} from './transport/transport-errors.ts';
export { QmpError, QmpCommandError, QmpProtocolError, QmpStateError, QmpDisconnectedError, QmpTimeoutError, QmpClient } from './qmp/index.ts';
export { quote, sh } from './transport/posix-quote.ts';

export type { FerryConfig, HostConfig } from './model/config-schema.ts';
export type { VmSummary, HostFacts } from './model/host.ts';
export type { VmStatus } from './model/vm.ts';
export type { MigrationOptions, ResolvedMigrationOptions, SwitchoverGatePlace, TimeoutAction } from './migration/migration-options.ts';
export type { MigrationResult, ConvergenceReport, MigrationDiskReport } from './migration/migration-result.ts';
export type { GuestCheckHook, GuestCheckReport } from './migration/guest-check.ts';
export type { DowntimeOverrun } from './migration/downtime-overrun.ts';
export type { StorageMode } from './migration/storage/storage-plan.ts';
export type { DiskCopyProgress } from './migration/storage/disk-copy.ts';
export type { TlsOptions, ResolvedTls } from './migration/tls/tls-options.ts';
export type { TlsSetup } from './migration/tls/tls-settings.ts';
export type { TlsFailure } from './migration/tls/tls-errors.ts';
export type {
  ConvergencePolicy, ConvergenceAction, ConvergenceSample, PassStats, PolicyInput, PolicyNeeds, PolicyPresetName, ConvergenceActionRecord, SwitchoverEstimate,
} from './migration/policy/index.ts';
export type { MigrationPrediction, PredictionMeasures } from './migration/prediction/predict-migration.ts';
export type { MigrationProgress } from './migration/migration-progress.ts';
export type { MigrationPhase } from './migration/migration-phase.ts';
export type { MigrationStep } from './migration/migration-plan.ts';
export type { MigrationAction, MigrationLogEntry, MigrationEventMap } from './migration/migration-events.ts';
export type { VmLocation, PreflightCheck } from './migration/migration-errors.ts';
export type { RecoveryReport } from './migration/recover-migration.ts';
export type { QemuSide } from './migration/vm-location.ts';
export type { MigrationRecord } from './migration/migration-lock.ts';
export type { CommandResult, ExecOptions, HostTransport } from './transport/host-transport.ts';
export type {
  EvacuateOptions, EvacuationOrder, EvacuationReport, VmOutcome, MovedVm, FailedVm, SkippedVm, PlannedVm, EvacuationEventMap, EvacuationLogEntry,
  MaintenanceMark, JournalEntry, JournalLine,
} from './evacuation/index.ts';
export type {
  RollingUpgradeOptions, RollingUpgradeReport, HostUpgradeOutcome, RollingUpgradeEventMap, UpgradeLogEntry, UpgradePlan, HostUpgradePlan,
  PlannedUpgradeMove, VmWhereabouts, HostStep, UpgradeJournalEntry, UpgradeJournalLine,
} from './upgrade/index.ts';
