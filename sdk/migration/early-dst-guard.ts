import { guardLogPath } from '../model/vm-paths.ts';
import { GuardChannel } from './guard/guard-channel.ts';
import { log, type MigrationContext } from './migration-context.ts';

/**
 * Starts the destination's guard at once, beside the source's claim and the
 * preflight checks, without its launch: it waits for `sendLaunch()` and runs
 * nothing until then, so a migration refused in preflight leaves nothing on
 * the destination (closing it ends it). What this saves is the guard's own
 * start (an SSH channel and perl) in prepare. Never rejects: undefined when it
 * could not start, and prepare then starts one itself.
 */
export async function startDstGuardEarly(context: MigrationContext): Promise<GuardChannel | undefined> {
  const { destination, vm, signal } = context;
  const paths = destination.paths(vm.name);
  try {
    return await GuardChannel.start(destination, {
      role: 'dst',
      qmp: paths.qmp,
      pidfile: paths.pid,
      launchLater: true,
      log: guardLogPath(destination.config.runDir),
      label: vm.name,
    }, { signal });
  } catch (error) {
    log(context, 'debug', `the destination's guard could not start early (prepare starts it): ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}
