import type { MigrationStatus, RunState } from '../qmp/index.ts';
import type { Vm } from './vm.ts';

/** What a VM's QEMU says of itself, or that its QMP socket is held by another client. */
export interface VmQemuState {
  /** `busy`: another client holds QMP (QEMU serves one at a time): a migration's guard, or a person. */
  qmp: 'answered' | 'busy';
  runState?: RunState;
  migration?: MigrationStatus;
}

// Long enough for QEMU's greeting over SSH, short enough that `ferry ls` never hangs on a held socket.
const GREETING_TIMEOUT_MS = 2000;

/** Asks a running VM's QEMU its run state and migration status, without waiting on a socket someone else holds. */
export async function readVmQemuState(vm: Vm, options: { signal?: AbortSignal } = {}): Promise<VmQemuState> {
  let qmp;
  try {
    qmp = await vm.connectQmp({ ...options, timeoutMs: GREETING_TIMEOUT_MS });
  } catch (error) {
    if ((error as { code?: string }).code === 'QMP_TIMEOUT') return { qmp: 'busy' };
    throw error;
  }
  try {
    const [status, migration] = await Promise.all([qmp.execute('query-status'), qmp.execute('query-migrate')]);
    return { qmp: 'answered', runState: status.status, migration: migration.status ?? 'none' };
  } finally {
    await qmp.close();
  }
}

/**
 * One phrase for people, from QEMU's own words: a paused guest, a copy left
 * behind by a completed migration, a QEMU waiting for a migration, and an
 * interrupted migration (its lock left with no guard serving it) are all
 * told apart, never shown as plain `running`.
 */
export function describeVmState(state: VmQemuState | undefined, lock: boolean): string {
  if (!state) return 'stale files (no QEMU)';
  if (state.qmp === 'busy') return lock ? 'migrating (its guard holds QMP)' : 'busy (another QMP client holds it)';
  const migration = state.migration ?? 'none';
  let phrase: string;
  if (migration.startsWith('postcopy')) phrase = `post-copy ${migration.slice(9)}`;
  else if (state.runState === 'inmigrate') phrase = 'incoming (waits for a migration)';
  else if (state.runState === 'postmigrate' && migration === 'completed') phrase = 'migrated away (a stale copy)';
  else if (state.runState === 'paused' && migration === 'completed') phrase = 'paused after an incoming migration';
  else if (migration === 'pre-switchover' || migration === 'device') phrase = 'paused at switchover';
  else if (migration === 'setup' || migration === 'active') phrase = `${state.runState ?? 'unknown'}, migrating`;
  else phrase = state.runState ?? 'unknown';
  // The lock is there but nobody holds QMP: the migration's ferry and guard are gone.
  return lock ? `${phrase} · interrupted migration: ferry recover` : phrase;
}
