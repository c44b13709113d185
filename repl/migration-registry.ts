import type { Migration, MigrationAction, MigrationPhase, MigrationProgress, MigrationResult } from '../sdk/index.ts';

/** What the REPL knows of one migration it started itself (it holds the handle, so it can steer it). */
export interface TrackedMigration {
  migration: Migration;
  label: string;
  destination: string;
  startedAt: number;
  phase: MigrationPhase;
  progress?: MigrationProgress;
  /** Throughput and dirty-rate samples, oldest first (bytes/s). */
  throughput: number[];
  dirtyRate: number[];
  /** When the last sample was taken: one a second, so the sparklines span the last passes. */
  sampledAt: number;
  lastAction?: MigrationAction;
  result?: MigrationResult;
  error?: unknown;
  endedAt?: number;
}

export const SAMPLE_LIMIT = 40;
export const SAMPLE_INTERVAL_MS = 1000;

/**
 * The migrations this REPL started: their handles (for `.cancel` and the
 * watch view's keys) and the figures their events brought, kept after they
 * end so the view and `.migrations` can say how they ended.
 */
export class MigrationRegistry {
  readonly #tracked = new Map<string, TrackedMigration>();
  readonly #onEnd = new Set<(tracked: TrackedMigration) => void>();

  /** Starts following `migration`'s events; returns its entry. */
  track(migration: Migration): TrackedMigration {
    const existing = this.#tracked.get(migration.id);
    if (existing) return existing;
    const tracked: TrackedMigration = {
      migration,
      label: migration.vm.label,
      destination: migration.destination.name,
      startedAt: Date.now(),
      phase: migration.phase,
      throughput: [],
      dirtyRate: [],
      sampledAt: 0,
    };
    this.#tracked.set(migration.id, tracked);
    migration.on('phase', (phase) => (tracked.phase = phase));
    migration.on('progress', (progress) => {
      tracked.progress = progress;
      // A new cell each second; in between the newest cell follows the latest figure.
      const now = Date.now();
      const fresh = now - tracked.sampledAt >= SAMPLE_INTERVAL_MS;
      if (fresh) tracked.sampledAt = now;
      else {
        tracked.throughput.pop();
        tracked.dirtyRate.pop();
      }
      pushSample(tracked.throughput, progress.throughput);
      pushSample(tracked.dirtyRate, progress.dirtyRate);
    });
    migration.on('action', (action) => (tracked.lastAction = action));
    migration.then(
      (result) => this.#end(tracked, { result }),
      (error: unknown) => this.#end(tracked, { error }),
    );
    return tracked;
  }

  /** Every tracked migration, in the order they started. */
  all(): TrackedMigration[] {
    return [...this.#tracked.values()];
  }

  /** The ones not yet ended. */
  inFlight(): TrackedMigration[] {
    return this.all().filter((tracked) => tracked.endedAt === undefined);
  }

  get(id: string): TrackedMigration | undefined {
    return this.#tracked.get(id);
  }

  /** Called once for each migration that ends (completed, failed or cancelled). */
  onEnd(listener: (tracked: TrackedMigration) => void): () => void {
    this.#onEnd.add(listener);
    return () => this.#onEnd.delete(listener);
  }

  #end(tracked: TrackedMigration, outcome: { result?: MigrationResult; error?: unknown }): void {
    tracked.phase = tracked.migration.phase;
    if (outcome.result) tracked.result = outcome.result;
    if ('error' in outcome) tracked.error = outcome.error;
    tracked.endedAt = Date.now();
    for (const listener of this.#onEnd) listener(tracked);
  }
}

export function pushSample(samples: number[], value: number): void {
  samples.push(Number.isFinite(value) ? value : 0);
  if (samples.length > SAMPLE_LIMIT) samples.splice(0, samples.length - SAMPLE_LIMIT);
}
