import { TypedEvents } from '../typed-events.ts';
import type { MigrationProgress } from '../migration/migration-progress.ts';
import type { PlannedVm, VmOutcome } from './evacuation-report.ts';

/** A typed log entry; the SDK prints nothing itself. */
export interface EvacuationLogEntry {
  level: 'debug' | 'info' | 'warn';
  message: string;
  atMs: number;
}

export interface EvacuationEventMap {
  /** The plan, before anything moves (also for a dry run). */
  plan: [plan: PlannedVm[]];
  /** A migration starts (attempt 2 is the retry). */
  start: [step: { vm: string; from: string; to: string; attempt: number }];
  progress: [vm: string, progress: MigrationProgress];
  /** A VM's final outcome. */
  done: [outcome: VmOutcome];
  /** The adaptive limiter's reasoning, each time it decides. */
  concurrency: [decision: { running: number; ceiling: number; start: boolean; reason: string }];
  log: [entry: EvacuationLogEntry];
}

/** The evacuation's event source; a listener that throws never breaks the evacuation. */
export class EvacuationEvents extends TypedEvents<EvacuationEventMap> {}
