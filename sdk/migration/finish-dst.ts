import { setTimeout as sleep } from 'node:timers/promises';
import { migrationError, type MigrationContext } from './migration-context.ts';

const FINISH_TIMEOUT_MS = 30_000;

/**
 * Finish, on the destination: the migration counts only once the VM runs
 * there (or is paused there, when it was paused on the source).
 */
export async function finishDst(context: MigrationContext): Promise<void> {
  const qmp = context.dstQmp;
  if (!qmp) throw new Error('ferry bug: finish without a destination QMP connection');
  const wanted = context.sourceWasRunning === false ? 'paused' : 'running';
  const deadline = performance.now() + FINISH_TIMEOUT_MS;
  for (;;) {
    const status = await qmp.execute('query-status');
    if (status.status === wanted) return;
    if (status.status !== 'inmigrate' && status.status !== 'finish-migrate' && status.status !== 'prelaunch' && status.status !== 'paused') {
      throw migrationError(context, 'DESTINATION_NOT_RUNNING', 'unknown', `the VM is ${status.status} on ${context.destination.name} after the transfer`);
    }
    if (performance.now() > deadline) {
      throw migrationError(context, 'DESTINATION_NOT_RUNNING', 'unknown', `the VM did not start running on ${context.destination.name} within ${FINISH_TIMEOUT_MS} ms (it is ${status.status})`);
    }
    await sleep(5);
  }
}
