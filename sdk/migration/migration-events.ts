import { TypedEvents } from '../typed-events.ts';
import type { MigrationPhase } from './migration-phase.ts';
import type { MigrationProgress } from './migration-progress.ts';

/** Something ferry did to help a migration finish, and why (a policy's action, a timeout). */
export interface MigrationAction {
  action: string;
  reason: string;
  atMs: number;
}

/** A typed log entry; the SDK prints nothing itself. */
export interface MigrationLogEntry {
  level: 'debug' | 'info' | 'warn';
  message: string;
  atMs: number;
}

export interface MigrationEventMap {
  phase: [phase: MigrationPhase, previous: MigrationPhase];
  progress: [progress: MigrationProgress];
  action: [action: MigrationAction];
  log: [entry: MigrationLogEntry];
}

/** The migration's event source; listeners are removed with `off` or when the migration ends. */
export class MigrationEvents extends TypedEvents<MigrationEventMap> {}
