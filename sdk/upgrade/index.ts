// The rolling-upgrade layer: evacuations and returns, host by host. Only sdk/api and sdk/index.ts import it.
export { RollingUpgrade } from './rolling-upgrade.ts';
export { RollingUpgradeOptionsError } from './upgrade-errors.ts';
export { defaultUpgradeJournalPath, type RollingUpgradeOptions } from './upgrade-options.ts';
export type { RollingUpgradeReport, HostUpgradeOutcome } from './upgrade-report.ts';
export type { RollingUpgradeEventMap, UpgradeLogEntry } from './upgrade-events.ts';
export type { UpgradePlan, HostUpgradePlan, PlannedUpgradeMove } from './upgrade-plan.ts';
export type { VmWhereabouts } from './locate-vms.ts';
export { readUpgradeJournal, type HostStep, type UpgradeJournalEntry, type UpgradeJournalLine } from './upgrade-journal.ts';
