import { setTimeout as sleep } from 'node:timers/promises';
import type { Host } from '../model/host.ts';
import { parseMigrationRecord } from '../migration/migration-lock.ts';
import { recoverMigration } from '../migration/recover-migration.ts';
import { readQemuSide } from '../migration/vm-location.ts';
import { sh } from '../transport/index.ts';

/** Where a VM ended up after the run migrating it died. */
export interface Recovery {
  outcome: 'moved' | 'on-source' | 'unknown' | 'busy';
  note: string;
}

/**
 * Settles a migration whose evacuation run died (the journal has its start
 * and no outcome), by the one recovery ferry has (`recover()`): the guards
 * have usually settled it already, and QEMU's state on both hosts decides
 * the rest. A lock held by another, live migration is left alone (`busy`).
 */
export async function recoverInterrupted(source: Host, destination: Host, vm: string, migrationId: string): Promise<Recovery> {
  const { stdout } = await source.transport.shell(sh`cat ${source.paths(vm).migrationStatus} 2>/dev/null || true`);
  const record = parseMigrationRecord(stdout);
  if (record && record.id !== migrationId) return { outcome: 'busy', note: `its lock is held by migration ${record.id} of ${record.controller.host} pid ${record.controller.pid}` };
  const report = await recoverMigration(source.vm(vm));
  if (report.outcome === 'in-progress') return { outcome: 'busy', note: report.summary };
  if (report.vmState === 'running-on-source') return { outcome: 'on-source', note: report.summary };
  if (report.vmState === 'running-on-destination') return { outcome: 'moved', note: report.summary };
  // No lock left (the guards settled it): the VM is not on the source; look where it went
  // (its destination's guard may still be resuming it there).
  if (report.outcome === 'nothing-to-do' && report.vmState === 'not-found') {
    let there = await readQemuSide(destination, vm);
    for (let i = 0; i < 30 && there.present && there.runState !== 'running'; i++) {
      await sleep(500);
      there = await readQemuSide(destination, vm);
    }
    if (there.present && there.runState === 'running') return { outcome: 'moved', note: `${vm} runs on ${destination.name} (its guards finished the move)` };
    return { outcome: 'unknown', note: `${report.summary}; on ${destination.name}: ${there.present ? (there.runState ?? there.note ?? '?') : 'no QEMU'}` };
  }
  return { outcome: 'unknown', note: report.summary };
}
