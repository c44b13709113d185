import { Host } from '../model/host.ts';
import { clearMaintenance } from '../evacuation/index.ts';
import { recoverInterrupted } from '../evacuation/recover-interrupted.ts';
import { Migration } from '../migration/migration.ts';
import { MigrationError } from '../migration/migration-errors.ts';
import { surveyAll } from './locate-vms.ts';
import type { HostProgress } from './upgrade-journal.ts';
import type { HostUpgradeOutcome } from './upgrade-report.ts';
import { messageOf, StepFailure, type StepReporter, type Turn } from './upgrade-turn.ts';

/**
 * Brings home every VM whose home is `host`, deciding by where QEMU says it
 * runs now (so a VM already home is never moved again): first migrations an
 * earlier run left in flight are settled by ferry's recovery, then one
 * migration per VM still away.
 */
export async function returnHome(
  turn: Turn, host: string, progress: HostProgress | undefined, outcome: HostUpgradeOutcome,
  step: StepReporter,
): Promise<void> {
  const fail = (message: string): never => {
    step('return', 'failed', message);
    throw new StepFailure(host, 'return', message);
  };
  const { context, journal, log } = turn;
  const { options, fleet, events, signal } = context;
  const vms = Object.entries(turn.homes).filter(([, home]) => home === host).map(([vm]) => vm).sort();
  step('return', 'start', vms.length ? vms.join(', ') : 'no VMs');
  // Migration preflight refuses a destination in maintenance: the host takes VMs again from here.
  await clearMaintenance(new Host(fleet, host), { signal });
  for (const open of progress?.openReturns.values() ?? []) {
    const recovery = await recoverInterrupted(new Host(fleet, open.from), new Host(fleet, host), open.vm, open.migrationId).catch((error: unknown) => ({ outcome: 'unknown', note: messageOf(error) }));
    log('info', `${open.vm}: its return was interrupted; ${recovery.note}`);
  }
  const surveys = await surveyAll(fleet, turn.hosts, { signal });
  for (const vm of vms) {
    if (signal.aborted) fail(`cancelled before ${vm} came home`);
    const holders = turn.hosts.filter((name) => surveys.get(name)?.vms.some((v) => v.name === vm));
    const unreachable = turn.hosts.filter((name) => !surveys.has(name));
    if (holders.length === 1 && holders[0] === host) {
      const earlier = progress?.returned.get(vm);
      if (!earlier) journal.append({ kind: 'returned', host, vm, from: host, note: 'already home' });
      outcome.returned.push({ vm, from: earlier?.from ?? host, note: earlier ? 'returned by an earlier run' : 'already home' });
      continue;
    }
    if (holders.length === 0 && unreachable.length === 0) {
      log('warn', `${vm}: runs on none of ${turn.hosts.join(', ')} (shut down meanwhile?); nothing to bring home`);
      outcome.returned.push({ vm, from: 'nowhere', note: 'runs on no host: not moved' });
      continue;
    }
    if (holders.length !== 1) fail(`${vm} has a QEMU on ${holders.join(' and ') || 'no reachable host'}${unreachable.length ? ` (${unreachable.join(', ')} unreachable)` : ''}: settle it with \`ferry recover\` first`);
    const from = holders[0] ?? '';
    const migration = new Migration(new Host(fleet, from).vm(vm), new Host(fleet, host), {
      ...options.migration, ...(options.maxDowntime !== undefined && { maxDowntime: options.maxDowntime }), signal,
    });
    journal.append({ kind: 'return-start', host, vm, from, migrationId: migration.id });
    events.emit('return', vm, migration);
    try {
      const result = await migration;
      journal.append({ kind: 'returned', host, vm, from });
      outcome.returned.push({ vm, from });
      log('info', `${vm}: home on ${host} from ${from} in ${result.wallTimeMs} ms (paused ${result.downtimeMs} ms)`);
    } catch (error) {
      const where = error instanceof MigrationError ? `; ${vm} is ${error.vmState}` : '';
      journal.append({ kind: 'return-failed', host, vm, from, message: messageOf(error), ...(error instanceof MigrationError && { vmState: error.vmState }) });
      fail(`${vm} could not come home from ${from}: ${messageOf(error)}${where}`);
    }
  }
  step('return', 'done', outcome.returned.map((r) => `${r.vm} ← ${r.from}`).join(', ') || 'no VMs');
}

