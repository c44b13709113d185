import { QmpClient } from '../qmp/index.ts';
import { guardLogPath } from '../model/vm-paths.ts';
import { GuardChannel } from './guard/guard-channel.ts';
import { enterStage, log, type MigrationContext } from './migration-context.ts';
import { MigrationError, PreflightError } from './migration-errors.ts';
import { parseMigrationRecord } from './migration-lock.ts';
import { recoverMigration } from './recover-migration.ts';
import { vmFiles } from './vm-files.ts';

const GUARD_START_TIMEOUT_MS = 15_000;

/**
 * The first step on the source: start its guard, which checks the VM runs
 * there (a live pid in its pid file), takes the migration lock (`mkdir
 * <runDir>/<vm>.migration`, atomic), reads QEMU's real command line and then
 * relays QMP. From here on, if ferry dies, the guard puts the VM right.
 * A lock whose guard is dead is recovered first (as `ferry recover` would),
 * then taken; one whose guard lives belongs to another migration.
 */
export async function claimSourceVm(context: MigrationContext): Promise<void> {
  const { source, destination, vm } = context;
  const details = { vm: vm.name, source: source.name, destination: destination.name };
  if (source.name === destination.name) {
    throw new PreflightError(details, [{ check: 'distinct-hosts', ok: false, message: `source and destination are the same host (${source.name})` }]);
  }
  const paths = vm.paths;
  for (let attempt = 0; ; attempt++) {
    let guard: GuardChannel;
    try {
      guard = await GuardChannel.start(source, {
        role: 'src',
        qmp: paths.qmp,
        pidfile: paths.pid,
        lock: paths.migrationLock,
        record: JSON.stringify(context.record),
        log: guardLogPath(source.config.runDir),
        label: vm.name,
      }, { signal: context.signal });
    } catch (cause) {
      throw new PreflightError(details, [{ check: 'source-reachable', ok: false, message: `cannot use ${source.name}: ${cause instanceof Error ? cause.message : String(cause)}` }], { cause });
    }
    const hello = await guard.nextControl(GUARD_START_TIMEOUT_MS);
    const found = hello?.startsWith('guard ') ? await guard.nextControl(GUARD_START_TIMEOUT_MS) : hello;
    if (found === undefined || found === 'novm' || found.startsWith('busy')) await guard.close();
    if (found === undefined) {
      throw new PreflightError(details, [{ check: 'source-guard', ok: false, message: `ferry's guard did not start on ${source.name}${guard.stderr ? `: ${guard.stderr.trim().split('\n').at(-1)}` : ''} (it needs perl: install perl-base on Debian or Ubuntu, perl-interpreter on RHEL or Fedora)` }]);
    }
    if (found === 'novm') {
      throw new PreflightError(details, [{ check: 'source-vm', ok: false, message: `no VM '${vm.name}' runs on ${source.name} (no live pid in ${paths.pid})` }]);
    }
    if (found.startsWith('busy')) {
      const holder = parseMigrationRecord((await guard.nextControl(1000))?.replace(/^record /, '') ?? '');
      const who = holder ? `migration ${holder.id} to ${holder.destination} by ${holder.controller.host} pid ${holder.controller.pid}` : 'a migration whose record is unreadable';
      if (found === 'busy live' || attempt > 0) {
        throw new MigrationError('MIGRATION_IN_PROGRESS', { ...details, phase: 'preflight', vmState: 'running-on-source' },
          found === 'busy live' ? `another migration of this VM is in progress (${who}; its guard on ${source.name} is alive)` : `the lock ${paths.migrationLock} on ${source.name} is still there after recovery (${who})`);
      }
      log(context, 'warn', `the lock on ${source.name} belongs to ${who}, whose guard is gone: recovering it first`);
      const recovery = await recoverMigration(vm, { signal: context.signal });
      log(context, 'info', `recovered: ${recovery.summary}`);
      if (!recovery.vmState.startsWith('running-on-source') && recovery.vmState !== 'paused-on-source') {
        throw new MigrationError('MIGRATION_RECOVERED_ELSEWHERE', { ...details, phase: 'preflight', vmState: recovery.vmState },
          `an interrupted migration of this VM was recovered instead: ${recovery.summary}`);
      }
      continue;
    }
    const [vmWord, pid] = found.split(' ');
    const argvLine = vmWord === 'vm' ? await guard.nextControl(GUARD_START_TIMEOUT_MS) : undefined;
    context.srcGuard = guard;
    enterStage(context, 'source-claimed');
    if (argvLine?.startsWith('argv ')) {
      const argv = Buffer.from(argvLine.slice(5), 'hex').toString('utf8').split('\0');
      if (argv.at(-1) === '') argv.pop();
      context.sourceArgv = argv;
    }
    // What the guard removes with the source QEMU if it must end it (the migration committed without ferry).
    for (const file of vmFiles(source, vm.name, context.sourceArgv ?? [])) guard.send(`cleanup ${file}`);
    guard.startHeartbeat();
    log(context, 'debug', `${vm.label} runs as pid ${pid}; lock taken; guard ${hello?.slice(6) ?? '?'} on ${source.name}`);
    try {
      context.srcQmp = await QmpClient.connect(guard.qmp, { label: vm.label, signal: context.signal });
    } catch (cause) {
      throw new PreflightError(details, [{ check: 'source-qmp', ok: false, message: `cannot talk to ${vm.label}'s QMP socket ${paths.qmp}: ${cause instanceof Error ? cause.message : String(cause)}` }], { cause });
    }
    return;
  }
}
