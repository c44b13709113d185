import type { MigrationProgress, MigrationRecord } from '../../sdk/index.ts';
import { MigrationCancelledError, MigrationError } from '../../sdk/index.ts';
import { pushSample, SAMPLE_INTERVAL_MS, type TrackedMigration } from '../migration-registry.ts';

/** Who drives a migration: this REPL (which can steer it) or another process (which only it can). */
export type WatchOwner = { kind: 'this-repl' } | { kind: 'other'; host: string; pid: number };

/** How a migration ended, as far as the watcher can tell. */
export interface WatchEnding {
  outcome: 'completed' | 'failed' | 'cancelled' | 'ended';
  text: string;
  at: number;
}

/** One migration as the watch view shows it, whichever process drives it. */
export interface WatchEntry {
  id: string;
  /** `host/vm` of the source. */
  label: string;
  destination: string;
  phase: string;
  progress?: MigrationProgress | undefined;
  throughput: readonly number[];
  dirtyRate: readonly number[];
  /** The downtime limit in ms, when known (only for this REPL's migrations: records do not carry options). */
  budgetMs?: number | undefined;
  lastAction?: { action: string; reason: string } | undefined;
  owner: WatchOwner;
  /** The latest note the engine gave with its progress (why the figures moved, a policy's action). */
  lastNote?: string | undefined;
  /** ms since the controller last wrote its record (other processes only). */
  heartbeatAgeMs?: number | undefined;
  ended?: WatchEnding | undefined;
}

/** The view of a migration this REPL started. */
export function entryFromTracked(id: string, tracked: TrackedMigration): WatchEntry {
  return {
    id,
    label: tracked.label,
    destination: tracked.destination,
    phase: tracked.phase,
    progress: tracked.progress,
    throughput: tracked.throughput,
    dirtyRate: tracked.dirtyRate,
    budgetMs: tracked.migration.options.maxDowntime,
    lastAction: tracked.lastAction,
    owner: { kind: 'this-repl' },
    ended: tracked.endedAt === undefined ? undefined : endingOf(tracked),
  };
}

function endingOf(tracked: TrackedMigration): WatchEnding {
  const at = tracked.endedAt ?? Date.now();
  if (tracked.result) return { outcome: 'completed', text: `now runs on ${tracked.destination}, downtime ${tracked.result.downtimeMs} ms`, at };
  const error = tracked.error;
  const where = error instanceof MigrationError && !/the VM is|VM state/.test(error.message) ? ` (VM ${error.vmState})` : '';
  const message = error instanceof Error ? error.message : String(error);
  return { outcome: error instanceof MigrationCancelledError ? 'cancelled' : 'failed', text: `${message}${where}`, at };
}

/** A record's `progress` as written by the engine; anything else is ignored. */
export function progressOfRecord(value: unknown): MigrationProgress | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const p = value as Partial<MigrationProgress>;
  return typeof p.percent === 'number' && typeof p.transferredBytes === 'number' ? (value as MigrationProgress) : undefined;
}

/** The last entry of a record's `actions`, if it looks like one. */
export function lastActionOfRecord(record: MigrationRecord): { action: string; reason: string } | undefined {
  const last = record.actions?.at(-1);
  if (typeof last !== 'object' || last === null) return undefined;
  const { action, reason } = last as { action?: unknown; reason?: unknown };
  return typeof action === 'string' ? { action, reason: typeof reason === 'string' ? reason : '' } : undefined;
}

/**
 * Follows the status records that migrations keep on their source hosts:
 * fed each poll's records, it keeps a sample history per migration and
 * notices when a record goes away (the migration is over). No I/O.
 */
export class RecordTracker {
  readonly #entries = new Map<string, WatchEntry & { throughput: number[]; dirtyRate: number[]; sampledAt: number }>();

  /** `records` of one poll of every host (a host that could not be read contributes nothing and ends nothing). */
  update(records: readonly MigrationRecord[], now: number, unreadHosts: ReadonlySet<string> = new Set()): void {
    const seen = new Set<string>();
    for (const record of records) {
      seen.add(record.id);
      let entry = this.#entries.get(record.id);
      if (!entry) {
        entry = {
          id: record.id, label: `${record.source}/${record.vm}`, destination: record.destination, phase: record.phase,
          throughput: [], dirtyRate: [], sampledAt: 0,
          owner: { kind: 'other', host: record.controller.host, pid: record.controller.pid },
        };
        this.#entries.set(record.id, entry);
      }
      entry.phase = record.phase;
      entry.heartbeatAgeMs = Math.max(0, now - Date.parse(record.heartbeatAt));
      entry.lastAction = lastActionOfRecord(record) ?? entry.lastAction;
      if (typeof record.options?.maxDowntime === 'number') entry.budgetMs = record.options.maxDowntime;
      const progress = progressOfRecord(record.progress);
      if (progress) {
        // Records are rewritten once a second: a new cell each time, else the newest cell follows.
        if (now - entry.sampledAt >= SAMPLE_INTERVAL_MS * 0.8 || entry.throughput.length === 0) entry.sampledAt = now;
        else {
          entry.throughput.pop();
          entry.dirtyRate.pop();
        }
        pushSample(entry.throughput, progress.throughput);
        pushSample(entry.dirtyRate, progress.dirtyRate);
      }
      if (progress) entry.progress = progress;
      // A record carries a progress note only in the second it was written: keep the latest.
      if (progress?.note) entry.lastNote = progress.note;
      entry.ended = undefined;
    }
    for (const entry of this.#entries.values()) {
      const host = entry.label.slice(0, entry.label.indexOf('/'));
      if (seen.has(entry.id) || entry.ended || unreadHosts.has(host)) continue;
      entry.ended = { outcome: 'ended', text: 'its record is gone: the migration is over', at: now };
    }
  }

  /** Every migration seen, ended ones included. */
  entries(): WatchEntry[] {
    return [...this.#entries.values()];
  }

  /** Marks how an ended migration turned out, once someone has looked where the VM runs. */
  settle(id: string, ending: WatchEnding): void {
    const entry = this.#entries.get(id);
    if (entry) entry.ended = ending;
  }

  /** Forgets ended migrations older than `keepMs`. */
  prune(now: number, keepMs: number): void {
    for (const [id, entry] of this.#entries) if (entry.ended && now - entry.ended.at > keepMs) this.#entries.delete(id);
  }
}
