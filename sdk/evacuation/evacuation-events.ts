import { EventEmitter } from 'node:events';
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

/** A typed event source; a listener that throws never breaks the evacuation. */
export class EvacuationEvents {
  readonly #emitter = new EventEmitter();

  on<K extends keyof EvacuationEventMap>(event: K, listener: (...args: EvacuationEventMap[K]) => void): this {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof EvacuationEventMap>(event: K, listener: (...args: EvacuationEventMap[K]) => void): this {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  emit<K extends keyof EvacuationEventMap>(event: K, ...args: EvacuationEventMap[K]): void {
    for (const listener of this.#emitter.listeners(event)) {
      try {
        (listener as (...args: EvacuationEventMap[K]) => void)(...args);
      } catch {
        // ignored on purpose
      }
    }
  }

  removeAll(): void {
    this.#emitter.removeAllListeners();
  }
}
