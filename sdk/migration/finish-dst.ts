import { setTimeout as sleep } from 'node:timers/promises';
import { enterStage, log, migrationError, type MigrationContext } from './migration-context.ts';

const FINISH_TIMEOUT_MS = 30_000;

/**
 * Finish, on the destination: the source reported `completed`, which with the
 * return path means the destination loaded everything: the commit point. The
 * destination, started with -S, waits paused; ferry resumes it (unless the
 * guest was paused on the source) and the migration counts once it runs.
 * Were ferry lost here, the destination's guard would resume it the same way.
 */
export async function finishDst(context: MigrationContext): Promise<void> {
  const qmp = context.dstQmp;
  if (!qmp) throw new Error('ferry bug: finish without a destination QMP connection');
  const wantRunning = context.sourceWasRunning !== false;
  // Every millisecond here is the guest's pause: with the return path the destination is
  // normally paused already, so ask it to run at once, and look only if it was not ready.
  if (wantRunning && (await qmp.execute('cont').then(() => true, () => false))) {
    log(context, 'info', `resumed the VM on ${context.destination.name}`);
    return enterStage(context, 'destination-running');
  }
  const deadline = performance.now() + FINISH_TIMEOUT_MS;
  for (;;) {
    const status = await qmp.execute('query-status');
    if (status.running) return enterStage(context, 'destination-running');
    if (status.status === 'paused') {
      if (!wantRunning) return enterStage(context, 'destination-running');
      await qmp.execute('cont');
      log(context, 'info', `resumed the VM on ${context.destination.name}`);
      continue;
    }
    if (status.status !== 'inmigrate' && status.status !== 'finish-migrate' && status.status !== 'prelaunch') {
      throw migrationError(context, 'DESTINATION_NOT_RUNNING', 'unknown', `the VM is ${status.status} on ${context.destination.name} after the transfer`);
    }
    if (performance.now() > deadline) {
      throw migrationError(context, 'DESTINATION_NOT_RUNNING', 'unknown', `the VM did not start running on ${context.destination.name} within ${FINISH_TIMEOUT_MS} ms (it is ${status.status})`);
    }
    await sleep(2);
  }
}
