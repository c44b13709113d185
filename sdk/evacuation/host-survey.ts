import type { Host } from '../model/host.ts';
import { sh } from '../transport/index.ts';
import { withAlive } from '../model/live-process.ts';
import { parseMemorySize, guestMemoryFromArgv } from './memory-size.ts';
import { qemuVersionFrom } from './qemu-version.ts';
import { configMark, maintenanceMarkerPath, parseMaintenanceMark, type MaintenanceMark } from './maintenance.ts';

/** A VM as placement sees it: its guest RAM and the memory its QEMU really holds. */
export interface SurveyedVm {
  name: string;
  pid: number;
  /** Guest RAM from its command line (`-m`). */
  memoryBytes: number;
  /** Resident memory of its QEMU: about what a migration must send (untouched pages cost nothing). */
  residentBytes: number;
  /** A migration of it is in progress (its lock exists). */
  migrating: boolean;
  /** The QEMU this VM's process runs (its own executable's `--version`): a VM may only move to a QEMU at least as new. */
  qemuVersion?: string;
}

/** One host as placement needs it, read in one round trip. */
export interface HostSurvey {
  host: string;
  memAvailableBytes: number;
  memTotalBytes: number;
  /** The config's `memoryBudget`, in bytes. */
  memoryBudgetBytes: number | undefined;
  maintenance: MaintenanceMark | undefined;
  /** The QEMU a VM started (or received) here would run: the configured binary's `--version`. */
  qemuVersion?: string;
  vms: SurveyedVm[];
}

/**
 * Reads a host's free memory, maintenance mark and running VMs (by ferry's
 * runDir convention, including QEMUs waiting for an incoming migration).
 * Guest RAM comes from each QEMU's command line, not QMP: QEMU serves one
 * QMP client at a time, and a migrating VM's socket is held by its migration.
 *
 * @example
 * const survey = await surveyHost(host);
 */
export async function surveyHost(host: Host, options: { signal?: AbortSignal } = {}): Promise<HostSurvey> {
  const runDir = host.config.runDir;
  const script = withAlive(sh`grep -E '^(MemTotal|MemAvailable):' /proc/meminfo
echo "qemu $(${host.config.qemuBinary} --version 2>/dev/null | head -1 | base64 -w0)"
cd ${runDir} 2>/dev/null || exit 0
if [ -e ${maintenanceMarkerPath(host)} ]; then echo "mark $(base64 -w0 < ${maintenanceMarkerPath(host)})"; fi
for f in *.pid; do
  [ -f "$f" ] || continue
  n=\${f%.pid}
  p=$(cat "$f" 2>/dev/null)
  alive "$p" || continue
  m=0; [ -d "$n.migration" ] && m=1
  rss=$(sed -n 's/^VmRSS:[[:space:]]*\\([0-9]*\\).*/\\1/p' "/proc/$p/status")
  # The binary this process runs, even if an upgrade replaced the file since.
  v=$("/proc/$p/exe" --version 2>/dev/null | head -1 | base64 -w0)
  echo "vm $(printf %s "$n" | base64 -w0) $p $m \${rss:-0} $(base64 -w0 < "/proc/$p/cmdline") \${v:--}"
done`);
  const { stdout } = await host.transport.shell(script, options);
  return parseSurvey(host, stdout);
}

export function parseSurvey(host: Host, stdout: string): HostSurvey {
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(stdout)?.[1] ?? 0) * 1024;
  const budget = host.config.memoryBudget;
  let maintenance = host.config.maintenance ? configMark() : undefined;
  let qemuVersion: string | undefined;
  const vms: SurveyedVm[] = [];
  for (const line of stdout.split('\n')) {
    const fields = line.split(' ');
    if (fields[0] === 'mark') maintenance = parseMaintenanceMark(decode(fields[1] ?? ''));
    if (fields[0] === 'qemu') qemuVersion = qemuVersionFrom(decode(fields[1] ?? ''));
    if (fields[0] !== 'vm' || fields.length < 6) continue;
    const argv = decode(fields[5] ?? '').split('\0');
    const vmQemu = qemuVersionFrom(decode(fields[6] ?? ''));
    vms.push({
      name: decode(fields[1] ?? ''),
      pid: Number(fields[2]),
      migrating: fields[3] === '1',
      residentBytes: Number(fields[4]) * 1024,
      memoryBytes: guestMemoryFromArgv(argv),
      ...(vmQemu !== undefined && { qemuVersion: vmQemu }),
    });
  }
  return {
    host: host.name,
    memAvailableBytes: kib('MemAvailable'),
    memTotalBytes: kib('MemTotal'),
    memoryBudgetBytes: budget === undefined ? undefined : parseMemorySize(budget),
    maintenance,
    ...(qemuVersion !== undefined && { qemuVersion }),
    vms: vms.sort((x, y) => x.name.localeCompare(y.name)),
  };
}

function decode(base64: string): string {
  return Buffer.from(base64, 'base64').toString('utf8');
}
