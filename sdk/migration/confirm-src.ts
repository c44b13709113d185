import { setTimeout as sleep } from 'node:timers/promises';
import { enterStage, log, migrationError, type MigrationContext } from './migration-context.ts';
import { stopAndRemoveVm } from './vm-files.ts';
import { sh } from '../transport/index.ts';
import { leftoverMarkerPath } from './storage/storage-facts.ts';

/**
 * Confirm, on the source: the VM now runs on the destination, so the source
 * QEMU (paused in `postmigrate`) is told to quit, its files are removed and
 * the lock released. Both guards are told all is settled first.
 */
export async function confirmSrc(context: MigrationContext): Promise<void> {
  const { source, vm } = context;
  const qmp = context.srcQmp;
  if (qmp) {
    const status = await qmp.execute('query-status');
    if (status.status !== 'postmigrate' && status.status !== 'paused') {
      throw migrationError(context, 'SOURCE_NOT_POSTMIGRATE', 'unknown', `the source QEMU is ${status.status} after the migration, expected postmigrate`);
    }
    // The guard must not act on its own from here: ferry quits this QEMU itself.
    context.srcGuard?.send('done');
    await qmp.execute('quit');
    // Unref'd: a pending 2 s timer would keep a finished CLI process alive that long.
    await Promise.race([qmp.closed, sleep(2000, undefined, { ref: false })]);
  }
  // The pid file may already be gone; stopAndRemoveVm waits for (or ends) the process and cleans up, lock included.
  await stopAndRemoveVm(source, vm.name, context.sourceArgv ?? [], [vm.paths.migrationLock]);
  // A copied disk's image stays here, intact and unused: marked as this VM's stale copy, so that a
  // later move back may replace it (any other file at that path is never overwritten).
  const markers = (context.storage?.copy.disks ?? []).map((disk) => leftoverMarkerPath(disk.plan.disk.path));
  if (markers.length > 0) await source.transport.shell(sh`for m in ${markers}; do printf '%s\n' ${vm.name} > "$m"; done`, { allowFailure: true });
  enterStage(context, 'source-ended');
  log(context, 'info', `source QEMU on ${source.name} stopped and cleaned`);
}
