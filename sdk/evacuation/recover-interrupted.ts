import { hostname } from 'node:os';
import type { Host } from '../model/host.ts';
import { parseMigrationRecord, releaseMigrationLock, type MigrationRecord } from '../migration/migration-lock.ts';
import { cancelTransferSrc } from '../migration/cancel-transfer.ts';
import { stopAndRemoveVm } from '../migration/vm-files.ts';
import { sh } from '../transport/index.ts';

/** Where a VM ended up after the run migrating it died. */
export interface Recovery {
  outcome: 'moved' | 'on-source' | 'unknown' | 'busy';
  note: string;
}

/**
 * Settles a migration whose controller died (the journal has its start and
 * no outcome): QEMU carried on without it. If the destination runs the
 * guest and the source QEMU is left in `postmigrate`, the move is finished
 * (source quit and cleaned); otherwise any transfer is cancelled, the source
 * resumed, the destination's waiting QEMU ended. Either way the lock is
 * released, so the resumed run need not wait for it to go stale. A lock
 * held by a live controller is left alone (`busy`).
 */
export async function recoverInterrupted(source: Host, destination: Host, vm: string, migrationId: string): Promise<Recovery> {
  const record = await readLockRecord(source, vm);
  if (record && (record.id !== migrationId || (await controllerAlive(record)))) {
    return { outcome: 'busy', note: `its lock is held by migration ${record.id} of ${record.controller.host} pid ${record.controller.pid}, still alive` };
  }
  const src = source.vm(vm);
  const dst = destination.vm(vm);
  const [srcPid, dstPid] = await Promise.all([src.pid(), dst.pid()]);
  // Their command lines name the files to clean (console, logs) besides the socket and pid file.
  const [srcArgv, dstArgv] = await Promise.all([src.commandLine().catch(() => []), dst.commandLine().catch(() => [])]);
  if (srcPid === undefined && dstPid === undefined) return { outcome: 'unknown', note: `${vm} runs on neither ${source.name} nor ${destination.name}` };
  if (srcPid === undefined) {
    await releaseMigrationLock(source, vm);
    return { outcome: 'moved', note: `the source QEMU is gone and ${destination.name} runs ${vm}` };
  }
  const srcState = await src.withQmp(async (qmp) => {
    const transfer = await cancelTransferSrc(qmp);
    return { transfer, run: (await qmp.execute('query-status')).status };
  }, { timeoutMs: 10_000 });
  const dstRunning = dstPid !== undefined && (await dst.qmp('query-status', {}, { timeoutMs: 10_000 }).then((s) => s.running, () => false));
  if (srcState.transfer === 'completed' && srcState.run === 'postmigrate' && dstRunning) {
    await src.qmpUnchecked('quit').catch(() => undefined);
    await stopAndRemoveVm(source, vm, srcArgv);
    await releaseMigrationLock(source, vm);
    return { outcome: 'moved', note: `the transfer had completed: ${destination.name} runs ${vm}; the source QEMU was stopped` };
  }
  if (dstRunning) return { outcome: 'unknown', note: `${vm} runs on ${destination.name} and its source QEMU is ${srcState.run}: check both hosts` };
  if (srcState.run !== 'running') await src.qmp('cont').catch(() => undefined);
  const resumed = (await src.qmp('query-status', {}, { timeoutMs: 10_000 }).catch(() => undefined))?.running === true;
  if (dstPid !== undefined) await stopAndRemoveVm(destination, vm, dstArgv);
  if (!resumed) return { outcome: 'unknown', note: `${vm} is ${srcState.run} on ${source.name} and could not be resumed` };
  await releaseMigrationLock(source, vm);
  return { outcome: 'on-source', note: `the transfer never finished: ${vm} runs on ${source.name}${dstPid !== undefined ? `; the waiting QEMU on ${destination.name} was ended` : ''}` };
}

async function readLockRecord(source: Host, vm: string): Promise<MigrationRecord | undefined> {
  const { stdout } = await source.transport.shell(sh`cat ${source.paths(vm).migrationStatus} 2>/dev/null || true`);
  return parseMigrationRecord(stdout);
}

/** Only a controller on this machine can be checked; one elsewhere counts as alive (its lock goes stale by itself). */
async function controllerAlive(record: MigrationRecord): Promise<boolean> {
  if (record.controller.host !== hostname()) return true;
  if (record.controller.pid === process.pid) return false;
  try {
    process.kill(record.controller.pid, 0);
    return true;
  } catch {
    return false;
  }
}
