import { setTimeout as sleep } from 'node:timers/promises';
import { log, type MigrationContext } from './migration-context.ts';
import type { VmLocation } from './migration-errors.ts';
import { releaseMigrationLock } from './migration-lock.ts';
import { cancelTransferSrc } from './cancel-transfer.ts';
import { stopAndRemoveVm } from './vm-files.ts';

/**
 * After a failure or cancel: leave the VM running in exactly one place and
 * say where. Before switchover that is always the source: the transfer is
 * cancelled, the guest resumed if QEMU left it paused, ferry's settings
 * restored, and the destination QEMU ended and its files removed. Never
 * uses the migration's (possibly aborted) signal.
 */
export async function rollback(context: MigrationContext): Promise<VmLocation> {
  if (context.phase === 'confirm') return 'running-on-destination';
  if (context.postcopyStarted) {
    // The destination owns the guest's newest memory: it cannot go back.
    log(context, 'warn', 'failure after post-copy started: the VM cannot return to the source');
    return (await destinationRunning(context)) ? 'running-on-destination' : 'unknown';
  }
  let location: VmLocation = 'unknown';
  try {
    await cancelTransfer(context);
    location = await resumeSource(context);
    if (location !== 'unknown') await restoreSourceSettings(context);
  } catch (error) {
    log(context, 'warn', `rollback on the source: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (location !== 'unknown' || !context.switchedOver) await removeDestination(context);
  if (context.lockHeld && location !== 'unknown') {
    await releaseMigrationLock(context.source, context.vm.name).catch(() => undefined);
    context.lockHeld = false;
  }
  return location;
}

async function cancelTransfer(context: MigrationContext): Promise<void> {
  if (context.srcQmp && context.transferStarted) await cancelTransferSrc(context.srcQmp);
}

/** The source runs again (as it ran before), or is reported paused; unknown if its QEMU is gone. */
async function resumeSource(context: MigrationContext): Promise<VmLocation> {
  const qmp = context.srcQmp;
  if (!qmp) {
    // Preflight never reached the source's QEMU: nothing was changed there.
    return 'running-on-source';
  }
  if (qmp.state !== 'running') return (await context.vm.pid().catch(() => undefined)) ? 'running-on-source' : 'unknown';
  const status = await qmp.execute('query-status');
  if (status.running) return 'running-on-source';
  if (context.sourceWasRunning !== false && (status.status === 'postmigrate' || status.status === 'paused' || status.status === 'finish-migrate')) {
    // Only before the destination ever ran: it was ended or never started.
    await removeDestination(context);
    await qmp.execute('cont');
    log(context, 'info', `resumed the VM on ${context.source.name}`);
    return 'running-on-source';
  }
  return context.sourceWasRunning === false ? 'paused-on-source' : 'unknown';
}

async function restoreSourceSettings(context: MigrationContext): Promise<void> {
  const qmp = context.srcQmp;
  const saved = context.savedSource;
  if (!qmp || !saved || qmp.state !== 'running') return;
  // `events` stays on: it is harmless, and another tool may rely on it.
  const capabilities = saved.capabilities.filter((capability) => capability.capability !== 'events');
  if (capabilities.length > 0) await qmp.execute('migrate-set-capabilities', { capabilities });
  if (Object.keys(saved.parameters).length > 0) await qmp.execute('migrate-set-parameters', saved.parameters);
}

async function removeDestination(context: MigrationContext): Promise<void> {
  if (!context.destinationLaunchAttempted) return;
  context.destinationLaunchAttempted = false;
  const qmp = context.dstQmp;
  if (qmp && qmp.state === 'running') {
    await qmp.execute('quit').catch(() => undefined);
    await Promise.race([qmp.closed, sleep(2000)]);
  }
  await stopAndRemoveVm(context.destination, context.vm.name, context.destinationArgv ?? []).catch((error: unknown) =>
    log(context, 'warn', `could not clean up ${context.destination.name}: ${error instanceof Error ? error.message : String(error)}`),
  );
}

async function destinationRunning(context: MigrationContext): Promise<boolean> {
  try {
    const status = await context.dstQmp?.execute('query-status', {}, { timeoutMs: 5000 });
    return status?.running === true;
  } catch {
    return false;
  }
}
