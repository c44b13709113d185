import type { Host } from '../model/host.ts';
import { sh } from '../transport/index.ts';
import { withAlive } from '../model/live-process.ts';
import { maintenanceMarkerPath } from '../model/vm-paths.ts';
import { readTlsProbe, tlsProbeScript, type TlsFileFacts } from './tls/tls-preflight.ts';

/** What preflight needs to know about the destination. */
export interface DestinationFacts {
  memAvailableBytes: number;
  cpuFlags: string[];
  qemuVersion: string | undefined;
  machineTypes: string[];
  /** The pid of a VM of the same name already running there. */
  vmAlreadyThere: number | undefined;
  /** The host carries a maintenance mark (an evacuation set it). */
  inMaintenance: boolean;
  /** perl is there to run ferry's guard. */
  hasPerl: boolean;
  /** Its TLS credentials, when the migration asked for TLS. */
  tls?: TlsFileFacts;
}

/** All of it in one round trip; the two QEMU invocations run side by side. */
export async function destinationFacts(destination: Host, vm: string, options: { signal?: AbortSignal; tlsDir?: string } = {}): Promise<DestinationFacts> {
  const qemu = destination.config.qemuBinary;
  const pidFile = destination.paths(vm).pid;
  const script = withAlive(sh`t=$(mktemp -d) || exit 1
${qemu} --version > "$t/v" 2>/dev/null &
${qemu} -machine help > "$t/m" 2>/dev/null &
grep -E '^MemAvailable:' /proc/meminfo
echo "flags: $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2)"
[ -e ${maintenanceMarkerPath(destination.config.runDir)} ] && echo maintenance
command -v perl >/dev/null 2>&1 && echo perl
p=$(cat ${pidFile} 2>/dev/null)
if alive "$p"; then echo "running: $p"; fi
wait
echo "qemu: $(head -1 "$t/v")"
sed 's/^/machine: /' "$t/m"
rm -rf "$t"`) + (options.tlsDir === undefined ? '' : `
${tlsProbeScript(options.tlsDir, 'destination')}`);
  const { stdout } = await destination.transport.shell(script, { ...(options.signal && { signal: options.signal }) });
  const running = Number(/^running: (\d+)$/m.exec(stdout)?.[1]);
  return {
    memAvailableBytes: Number(/^MemAvailable:\s+(\d+)/m.exec(stdout)?.[1] ?? 0) * 1024,
    cpuFlags: (/^flags: (.*)$/m.exec(stdout)?.[1] ?? '').trim().split(/\s+/).filter(Boolean),
    qemuVersion: /^qemu: .*?version (\d+\.\d+(?:\.\d+)?)/m.exec(stdout)?.[1],
    machineTypes: [...stdout.matchAll(/^machine: (\S+)/gm)].map((match) => match[1] ?? '').filter((name) => name && name !== 'Supported'),
    vmAlreadyThere: Number.isInteger(running) && running > 0 ? running : undefined,
    inMaintenance: /^maintenance$/m.test(stdout),
    hasPerl: /^perl$/m.test(stdout),
    ...(options.tlsDir !== undefined && { tls: readTlsProbe(stdout) }),
  };
}
