import { EventEmitter } from 'node:events';
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

/** A typed event source; listeners are removed with `off` or when the migration ends. */
export class MigrationEvents {
  readonly #emitter = new EventEmitter();

  on<K extends keyof MigrationEventMap>(event: K, listener: (...args: MigrationEventMap[K]) => void): this {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof MigrationEventMap>(event: K, listener: (...args: MigrationEventMap[K]) => void): this {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  emit<K extends keyof MigrationEventMap>(event: K, ...args: MigrationEventMap[K]): void {
    // A listener that throws must not break the migration it watches.
    for (const listener of this.#emitter.listeners(event)) {
      try {
        (listener as (...args: MigrationEventMap[K]) => void)(...args);
      } catch {
        // ignored on purpose
      }
    }
  }

  removeAll(): void {
    this.#emitter.removeAllListeners();
  }
}
