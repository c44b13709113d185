import { hostname } from 'node:os';
import type { Host } from '../model/host.ts';
import { sh } from '../transport/index.ts';

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
  /** What has been done to the two QEMUs (a MigrationStage). */
  stage?: string;
  progress?: unknown;
  /** The policy's latest actions, with reasons. */
  actions?: unknown[];
  /** What the caller asked for (the downtime budget, the policy). */
  options?: { maxDowntime: number; policy: unknown };
  /** QMP commands (JSON) that undo ferry's settings on the source, for `recover`. */
  restore?: string[];
  /** Where the destination listens (`tcp:host:port`): a paused post-copy resumes there. */
  migrationUri?: string;
}

export async function releaseMigrationLock(source: Host, vm: string, options: { signal?: AbortSignal } = {}): Promise<void> {
  await source.transport.exec(['rm', '-rf', '--', source.paths(vm).migrationLock], { ...options, allowFailure: true });
}

/** The records of migrations in progress from `host` (what `.watch` shows). */
export async function readMigrationRecords(host: Host, options: { signal?: AbortSignal } = {}): Promise<MigrationRecord[]> {
  const script = sh`cd ${host.config.runDir} 2>/dev/null || exit 0
for f in *.migration/status.json; do [ -f "$f" ] && { cat "$f"; printf '\\0'; }; done`;
  const { stdout } = await host.transport.shell(script, { ...options, allowFailure: true });
  return stdout.split('\0').map(parseMigrationRecord).filter((record): record is MigrationRecord => record !== undefined);
}

export function newMigrationRecord(id: string, vm: string, source: string, destination: string): MigrationRecord {
  const now = new Date().toISOString();
  return { id, vm, source, destination, controller: { host: hostname(), pid: process.pid }, startedAt: now, heartbeatAt: now, phase: 'preflight' };
}

/** A record as read back from a host; anything that is not one is undefined. */
export function parseMigrationRecord(text: string): MigrationRecord | undefined {
  try {
    const value = JSON.parse(text) as MigrationRecord;
    return typeof value?.id === 'string' && typeof value.heartbeatAt === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}
