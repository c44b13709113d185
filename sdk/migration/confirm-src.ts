import { setTimeout as sleep } from 'node:timers/promises';
import { enterStage, log, migrationError, type MigrationContext } from './migration-context.ts';
import type { GuardChannel } from './guard/guard-channel.ts';
import { stopAndRemoveVm } from './vm-files.ts';
import { sh } from '../transport/index.ts';
import { leftoverMarkerPath } from './storage/storage-facts.ts';

// How long ferry waits for the source's guard to clean up after the quit before it does so itself.
const GUARD_CLEANUP_TIMEOUT_MS = 20_000;

/**
 * Confirm, on the source: the VM now runs on the destination, so the source
 * QEMU (paused in `postmigrate`) is told to quit, and its guard, told so
 * first, removes its files and the lock once it is gone: in the same round
 * trip, and even if ferry is lost meanwhile. Without a guard that answers,
 * ferry removes them itself, as `recover` would.
 */
export async function confirmSrc(context: MigrationContext): Promise<void> {
  const { source, vm } = context;
  const qmp = context.srcQmp;
  // A copied disk's image stays here, intact and unused: marked as this VM's stale copy, so that a
  // later move back may replace it (any other file at that path is never overwritten).
  const markers = (context.storage?.copy.disks ?? []).map((disk) => leftoverMarkerPath(disk.plan.disk.path));
  const mark = () => (markers.length > 0 ? source.transport.shell(sh`for m in ${markers}; do printf '%s\n' ${vm.name} > "$m"; done`, { allowFailure: true }) : undefined);
  let cleaned = false;
  let marking: ReturnType<typeof mark>;
  if (qmp) {
    const status = await qmp.execute('query-status');
    if (status.status !== 'postmigrate' && status.status !== 'paused') {
      throw migrationError(context, 'SOURCE_NOT_POSTMIGRATE', 'unknown', `the source QEMU is ${status.status} after the migration, expected postmigrate`);
    }
    const guard = context.srcGuard;
    const guardCleaned = guard && !guard.closed ? cleanedBy(guard) : Promise.resolve(false);
    // From here the guard does not act on its own but finishes what ferry starts: the quit's cleanup.
    guard?.send('quitting');
    const quitting = qmp.execute('quit').then(
      // Unref'd: a pending 2 s timer would keep a finished CLI process alive that long.
      () => Promise.race([qmp.closed, sleep(2000, undefined, { ref: false })]),
      (error: unknown) => log(context, 'debug', `quit on ${source.name}: ${error instanceof Error ? error.message : String(error)}`),
    );
    log(context, 'debug', `quitting the source QEMU on ${source.name}; its guard removes its files and the lock once it is gone`);
    // The markers only now that the source is known to be done with its disks: beside the quit.
    marking = mark();
    [cleaned] = await Promise.all([guardCleaned, quitting, marking]);
  }
  // No guard (or it could not): the pid file may already be gone; stopAndRemoveVm waits for (or ends) the process and cleans up, lock included.
  if (!cleaned) await stopAndRemoveVm(source, vm.name, context.sourceArgv ?? [], [vm.paths.migrationLock]);
  if (!marking) await mark();
  enterStage(context, 'source-ended');
  log(context, 'info', `source QEMU on ${source.name} stopped and cleaned`);
}

/** True once the guard says `cleaned`; false if it ends (or the wait times out) first. */
function cleanedBy(guard: GuardChannel): Promise<boolean> {
  return new Promise((resolve) => {
    const settle = (value: boolean): void => {
      stop();
      clearTimeout(timer);
      resolve(value);
    };
    const stop = guard.onControl((line) => {
      if (line === 'cleaned') settle(true);
    });
    const timer = setTimeout(() => settle(false), GUARD_CLEANUP_TIMEOUT_MS);
    timer.unref();
    void guard.ended.then(() => settle(false));
  });
}
