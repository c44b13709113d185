import { hostname } from 'node:os';
import type { Host } from '../model/host.ts';
import { sh } from '../transport/index.ts';
import { MigrationError } from './migration-errors.ts';

/** The record ferry keeps on the source host while it migrates a VM: a lock, and what observers read. */
export interface MigrationRecord {
  id: string;
  vm: string;
  source: string;
  destination: string;
  controller: { host: string; pid: number };
  startedAt: string;
  heartbeatAt: string;
  phase: string;
  progress?: unknown;
  actions?: unknown[];
}

// A controller that stopped heartbeating this long ago is taken to be gone.
export const STALE_LOCK_MS = 30_000;

/**
 * Takes the migration lock of `vm` on its source host: `mkdir` of
 * `<runDir>/<vm>.migration` is atomic, and the directory survives a crashed
 * controller. A lock whose heartbeat is older than STALE_LOCK_MS is taken
 * over only when `isQemuMigrating()` says QEMU has no migration in flight.
 */
export async function acquireMigrationLock(
  source: Host,
  record: MigrationRecord,
  isQemuMigrating: () => Promise<boolean>,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  const paths = source.paths(record.vm);
  for (let attempt = 0; attempt < 2; attempt++) {
    const script = sh`mkdir ${paths.migrationLock} 2>/dev/null || { cat ${paths.migrationStatus} 2>/dev/null; exit 3; }`;
    const result = await source.transport.shell(script, { ...options, allowFailure: true });
    if (result.exitCode === 0) {
      await writeMigrationRecord(source, record, options);
      return;
    }
    const holder = parseRecord(result.stdout);
    const age = holder ? Date.now() - Date.parse(holder.heartbeatAt) : Number.POSITIVE_INFINITY;
    if (age < STALE_LOCK_MS || (await isQemuMigrating())) {
      const who = holder ? `migration ${holder.id} to ${holder.destination} by ${holder.controller.host} pid ${holder.controller.pid}, last heartbeat ${Math.round(age / 1000)} s ago` : 'an unreadable lock';
      throw new MigrationError(
        'MIGRATION_IN_PROGRESS',
        { vm: record.vm, source: record.source, destination: record.destination, phase: 'preflight', vmState: 'running-on-source' },
        `another migration of this VM is in progress (${who}); if it is really gone, remove ${paths.migrationLock} on ${source.name}`,
      );
    }
    await releaseMigrationLock(source, record.vm, options);
  }
}

/** Writes the record atomically (write then rename), so a reader never sees half of it. */
export async function writeMigrationRecord(source: Host, record: MigrationRecord, options: { signal?: AbortSignal } = {}): Promise<void> {
  const file = source.paths(record.vm).migrationStatus;
  await source.transport.shell(sh`[ -d ${file.slice(0, file.lastIndexOf('/'))} ] && cat > ${file}.tmp && mv ${file}.tmp ${file}`, {
    ...options,
    stdin: JSON.stringify(record),
    allowFailure: true,
  });
}

export async function releaseMigrationLock(source: Host, vm: string, options: { signal?: AbortSignal } = {}): Promise<void> {
  await source.transport.exec(['rm', '-rf', '--', source.paths(vm).migrationLock], { ...options, allowFailure: true });
}

/** The records of migrations in progress from `host` (what `.watch` shows). */
export async function readMigrationRecords(host: Host, options: { signal?: AbortSignal } = {}): Promise<MigrationRecord[]> {
  const script = sh`cd ${host.config.runDir} 2>/dev/null || exit 0
for f in *.migration/status.json; do [ -f "$f" ] && { cat "$f"; printf '\\0'; }; done`;
  const { stdout } = await host.transport.shell(script, { ...options, allowFailure: true });
  return stdout.split('\0').map(parseRecord).filter((record): record is MigrationRecord => record !== undefined);
}

export function newMigrationRecord(id: string, vm: string, source: string, destination: string): MigrationRecord {
  const now = new Date().toISOString();
  return { id, vm, source, destination, controller: { host: hostname(), pid: process.pid }, startedAt: now, heartbeatAt: now, phase: 'preflight' };
}

function parseRecord(text: string): MigrationRecord | undefined {
  try {
    const value = JSON.parse(text) as MigrationRecord;
    return typeof value?.id === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}
