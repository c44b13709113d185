/**
 * A migration's phases, after libvirt's: preflight (checks, lock), prepare
 * (the destination QEMU), perform (the transfer), finish (the destination
 * runs), confirm (the source is stopped and cleaned). Then one end state.
 */
export type MigrationPhase =
  | 'pending' | 'preflight' | 'prepare' | 'perform' | 'finish' | 'confirm'
  | 'completed' | 'failed' | 'cancelled';

/** Which phase may follow which; anything not listed is a bug. */
export const MIGRATION_TRANSITIONS: Readonly<Record<MigrationPhase, readonly MigrationPhase[]>> = {
  pending: ['preflight', 'cancelled', 'failed', 'completed'], // completed: a dry run
  preflight: ['prepare', 'failed', 'cancelled'],
  prepare: ['perform', 'failed', 'cancelled'],
  perform: ['finish', 'failed', 'cancelled'],
  finish: ['confirm', 'failed'],
  confirm: ['completed', 'failed'],
  completed: [],
  failed: [],
  cancelled: [],
};

export function isFinalPhase(phase: MigrationPhase): boolean {
  return MIGRATION_TRANSITIONS[phase].length === 0;
}

export function assertTransition(from: MigrationPhase, to: MigrationPhase): void {
  if (!MIGRATION_TRANSITIONS[from].includes(to)) throw new Error(`ferry bug: migration phase ${from} → ${to} is not allowed`);
}
