import { sh } from '../transport/index.ts';
import { withAlive } from '../model/live-process.ts';
import { log, type MigrationContext } from './migration-context.ts';
import { MigrationError, PreflightError } from './migration-errors.ts';
import { parseMigrationRecord, releaseMigrationLock, STALE_LOCK_MS } from './migration-lock.ts';

/**
 * The first step on the source, in one round trip: the VM must run there
 * (a live, non-zombie pid in its pid file), then the migration lock is
 * taken (`mkdir <runDir>/<vm>.migration` is atomic and survives a crashed
 * controller) and the record written, then QEMU's real command line is read.
 * A lock whose heartbeat is older than STALE_LOCK_MS is taken over only when
 * QEMU has no migration in flight.
 */
export async function claimSourceVm(context: MigrationContext, isQemuMigrating: () => Promise<boolean>): Promise<void> {
  const { source, destination, vm } = context;
  const details = { vm: vm.name, source: source.name, destination: destination.name };
  if (source.name === destination.name) {
    throw new PreflightError(details, [{ check: 'distinct-hosts', ok: false, message: `source and destination are the same host (${source.name})` }]);
  }
  const paths = vm.paths;
  const script = withAlive(sh`p=$(cat ${paths.pid} 2>/dev/null)
alive "$p" || { echo novm; exit 0; }
if ! mkdir ${paths.migrationLock} 2>/dev/null; then echo busy; cat ${paths.migrationStatus} 2>/dev/null; exit 0; fi
cat > ${paths.migrationStatus}.tmp && mv ${paths.migrationStatus}.tmp ${paths.migrationStatus}
echo "locked $p"
cat "/proc/$p/cmdline"`);
  for (let attempt = 0; attempt < 2; attempt++) {
    let stdout: string;
    try {
      ({ stdout } = await source.transport.shell(script, { signal: context.signal, stdin: JSON.stringify(context.record) }));
    } catch (cause) {
      throw new PreflightError(details, [{ check: 'source-reachable', ok: false, message: `cannot use ${source.name}: ${cause instanceof Error ? cause.message : String(cause)}` }], { cause });
    }
    const newline = stdout.indexOf('\n');
    const [word, pid] = stdout.slice(0, newline < 0 ? undefined : newline).split(' ');
    if (word === 'locked') {
      context.lockHeld = true;
      const argv = stdout.slice(newline + 1).split('\0');
      if (argv.at(-1) === '') argv.pop();
      context.sourceArgv = argv;
      log(context, 'debug', `${vm.label} runs as pid ${pid}; lock taken`);
      return;
    }
    if (word === 'novm') {
      throw new PreflightError(details, [{ check: 'source-vm', ok: false, message: `no VM '${vm.name}' runs on ${source.name} (no live pid in ${paths.pid})` }]);
    }
    const holder = parseMigrationRecord(stdout.slice(newline + 1));
    const age = holder ? Date.now() - Date.parse(holder.heartbeatAt) : Number.POSITIVE_INFINITY;
    if (attempt > 0 || age < STALE_LOCK_MS || (await isQemuMigrating())) {
      const who = holder ? `migration ${holder.id} to ${holder.destination} by ${holder.controller.host} pid ${holder.controller.pid}, last heartbeat ${Math.round(age / 1000)} s ago` : 'an unreadable lock';
      throw new MigrationError('MIGRATION_IN_PROGRESS', { ...details, phase: 'preflight', vmState: 'running-on-source' },
        `another migration of this VM is in progress (${who}); if it is really gone, remove ${paths.migrationLock} on ${source.name}`);
    }
    log(context, 'warn', `taking over a stale lock (${holder ? `last heartbeat ${Math.round(age / 1000)} s ago` : 'unreadable'})`);
    await releaseMigrationLock(source, vm.name, { signal: context.signal });
  }
}
