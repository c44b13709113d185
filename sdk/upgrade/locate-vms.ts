import type { Fleet } from '../model/fleet.ts';
import { Host } from '../model/host.ts';
import { surveyHost, type HostSurvey } from '../evacuation/index.ts';
import { readQemuSide, type QemuSide } from '../migration/vm-location.ts';

/** Where one VM is, as QEMU on each host says. */
export interface VmWhereabouts {
  vm: string;
  home: string;
  /** The one host whose QEMU runs it; `nowhere` (every host answered, none has it) or `unknown` (look at `detail`). */
  runsOn: string;
  /** Each host that has a QEMU of it, and what that QEMU says. */
  detail: string;
}

/**
 * Reads where each VM runs from QEMU itself on every host (a live process,
 * its run state and migration status, as the migration engine's VmLocation
 * reads them): for the report of an upgrade that stopped, and for deciding
 * which VM still has to come home.
 *
 * @example
 * const where = await locateVms(fleet, ['a', 'b', 'c'], { web: 'a' });
 */
export async function locateVms(fleet: Fleet, hostNames: readonly string[], homes: Readonly<Record<string, string>>, options: { signal?: AbortSignal } = {}): Promise<VmWhereabouts[]> {
  const surveys = await surveyAll(fleet, hostNames, options);
  const located: VmWhereabouts[] = [];
  for (const [vm, home] of Object.entries(homes).sort(([x], [y]) => x.localeCompare(y))) {
    const holders = hostNames.filter((name) => surveys.get(name)?.vms.some((v) => v.name === vm));
    const sides: QemuSide[] = await Promise.all(holders.map((name) => readQemuSide(new Host(fleet, name), vm, options)));
    // `running` is running (a source that finished migrating is `postmigrate`); a VM that
    // arrived by migration keeps `completed` as its own arrival's status, so that is no sign.
    const running = sides.filter((side) => side.present && side.runState === 'running');
    const unreachable = hostNames.filter((name) => !surveys.has(name));
    const detail = [
      ...sides.map((side) => `${side.host}: ${side.runState ?? side.note ?? 'a QEMU'}${side.migration && side.migration !== 'none' && !(side.runState === 'running' && side.migration === 'completed') ? ` (migration ${side.migration})` : ''}`),
      ...unreachable.map((name) => `${name}: unreachable`),
    ].join('; ');
    let runsOn = 'unknown';
    if (running.length === 1 && sides.length === 1) runsOn = running[0]?.host ?? 'unknown';
    else if (sides.length === 0 && unreachable.length === 0) runsOn = 'nowhere';
    located.push({ vm, home, runsOn, detail: detail || 'no QEMU of it on any host' });
  }
  return located;
}

/** Every host's survey; a host that cannot be reached is left out. */
export async function surveyAll(fleet: Fleet, hostNames: readonly string[], options: { signal?: AbortSignal } = {}): Promise<Map<string, HostSurvey>> {
  const results = await Promise.allSettled(hostNames.map((name) => surveyHost(new Host(fleet, name), options)));
  const surveys = new Map<string, HostSurvey>();
  results.forEach((result, index) => {
    const name = hostNames[index];
    if (result.status === 'fulfilled' && name !== undefined) surveys.set(name, result.value);
  });
  return surveys;
}
