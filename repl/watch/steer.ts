import type { Migration } from '../../sdk/index.ts';

/** What the watch view's keys may ask of a migration this REPL drives. */
export type SteerKind = 'cancel' | 'postcopy' | 'downtime';

const REASON = 'operator in the REPL (confirmed)';

/** Carries out a confirmed request; the SDK announces each as an 'action' event. */
export async function steerRequest(migration: Migration, kind: SteerKind, value?: number): Promise<void> {
  switch (kind) {
    case 'cancel':
      migration.cancel(REASON);
      return;
    case 'postcopy':
      await migration.startPostcopy(REASON);
      return;
    case 'downtime':
      await migration.setMaxDowntime(value ?? proposeDowntimeMs(migration.options.maxDowntime, undefined), REASON);
      return;
  }
}

/**
 * The next downtime limit to offer: double the current one, or enough for
 * what QEMU expects now (with a fifth to spare, rounded up to 100 ms).
 *
 * @example
 * proposeDowntimeMs(300, 850) // 1100
 */
export function proposeDowntimeMs(currentMs: number, expectedMs: number | undefined): number {
  const enough = expectedMs === undefined ? 0 : Math.ceil((expectedMs * 1.2) / 100) * 100;
  return Math.min(2_000_000, Math.max(currentMs * 2, enough));
}
