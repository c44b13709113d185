import { TypedEvents } from '../typed-events.ts';
import type { Evacuation } from '../evacuation/index.ts';
import type { Migration } from '../migration/migration.ts';
import type { HostStep } from './upgrade-journal.ts';
import type { UpgradePlan } from './upgrade-plan.ts';

/** A typed log entry; the SDK prints nothing itself. */
export interface UpgradeLogEntry {
  level: 'debug' | 'info' | 'warn';
  message: string;
  atMs: number;
}

export interface RollingUpgradeEventMap {
  /** The whole plan, before anything moves (also for a dry run). */
  plan: [plan: UpgradePlan];
  /** A host's step starts, ends, fails, or is skipped because the journal says it was done. */
  step: [step: { host: string; step: HostStep; state: 'start' | 'done' | 'failed' | 'skipped'; note: string }];
  /** A host's evacuation starts: listen to it for its migrations. */
  evacuation: [host: string, evacuation: Evacuation];
  /** A VM starts home: listen to its migration. */
  return: [vm: string, migration: Migration];
  log: [entry: UpgradeLogEntry];
}

/** The rolling upgrade's event source; a listener that throws never breaks it. */
export class RollingUpgradeEvents extends TypedEvents<RollingUpgradeEventMap> {}
