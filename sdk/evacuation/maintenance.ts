import { hostname } from 'node:os';
import type { Host } from '../model/host.ts';
import { sh } from '../transport/index.ts';
import { maintenanceMarkerPath as markerPathOf } from '../model/vm-paths.ts';

/**
 * A host's maintenance mark lives ON the host, as `<runDir>/.ferry-maintenance`:
 * hosts are configured in a file that ferry never rewrites, and every ferry
 * process (any controller, the CLI, a cron run) reaches the host's runDir, so
 * all of them see the same mark. `maintenance: true` in the config is the
 * static form of the same thing.
 */
export { MAINTENANCE_MARKER } from '../model/vm-paths.ts';

/** Who marked a host, when and why. */
export interface MaintenanceMark {
  since: string;
  by: { host: string; pid: number };
  reason: string;
  /** The evacuation that marked it, if one did. */
  evacuation?: string;
}

export function maintenanceMarkerPath(host: Host): string {
  return markerPathOf(host.config.runDir);
}

/** Writes the mark atomically (write then rename), so a reader never sees half of it. */
export async function markMaintenance(host: Host, reason: string, evacuation?: string, options: { signal?: AbortSignal } = {}): Promise<MaintenanceMark> {
  const mark: MaintenanceMark = { since: new Date().toISOString(), by: { host: hostname(), pid: process.pid }, reason, ...(evacuation !== undefined && { evacuation }) };
  const file = maintenanceMarkerPath(host);
  await host.transport.shell(sh`mkdir -p ${host.config.runDir} && cat > ${file}.tmp && mv ${file}.tmp ${file}`, { ...options, stdin: JSON.stringify(mark) });
  return mark;
}

/** Removes the mark (a host in maintenance by its config stays so: that is the config's to change). */
export async function clearMaintenance(host: Host, options: { signal?: AbortSignal } = {}): Promise<void> {
  await host.transport.exec(['rm', '-f', '--', maintenanceMarkerPath(host)], options);
}

/** The mark on the host, `{ reason: 'config' }` when the config says so, or undefined. */
export async function readMaintenance(host: Host, options: { signal?: AbortSignal } = {}): Promise<MaintenanceMark | undefined> {
  const file = maintenanceMarkerPath(host);
  const { stdout } = await host.transport.shell(sh`if [ -e ${file} ]; then printf 'mark:'; cat ${file} 2>/dev/null; fi; true`, options);
  return (stdout.startsWith('mark:') ? parseMaintenanceMark(stdout.slice(5)) : undefined) ?? (host.config.maintenance ? configMark() : undefined);
}

/** The marker file's content as a mark; an empty or hand-written file is a mark too. */
export function parseMaintenanceMark(text: string): MaintenanceMark {
  try {
    const value = JSON.parse(text) as Partial<MaintenanceMark>;
    return { since: String(value.since ?? ''), by: value.by ?? { host: '?', pid: 0 }, reason: String(value.reason ?? ''), ...(value.evacuation !== undefined && { evacuation: value.evacuation }) };
  } catch {
    // A mark someone wrote by hand (`touch`): still a mark.
    return { since: '', by: { host: '?', pid: 0 }, reason: text.trim().slice(0, 200) || 'marked by hand' };
  }
}

export function configMark(): MaintenanceMark {
  return { since: '', by: { host: '?', pid: 0 }, reason: 'maintenance: true in the config' };
}
