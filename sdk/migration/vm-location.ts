import type { Host } from '../model/host.ts';
import type { MigrationStatus, RunState } from '../qmp/index.ts';
import type { VmLocation } from './migration-errors.ts';

/** One host's QEMU for a VM, as QEMU itself reports it. */
export interface QemuSide {
  host: string;
  /** ferry reached the host. */
  reachable: boolean;
  /** A live QEMU process of the VM is there. */
  present: boolean;
  runState?: RunState;
  /** Its migration status (outgoing on a source, incoming on a destination). */
  migration?: MigrationStatus;
  /** Why a field is missing (host unreachable, QMP busy or silent). */
  note?: string;
}

/**
 * Reads a VM's QEMU on one host: is its process alive, what run state and
 * migration status does it report. Never assumes: what it cannot read it
 * leaves out and says why.
 */
export async function readQemuSide(host: Host, vmName: string, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<QemuSide> {
  const vm = host.vm(vmName);
  let pid: number | undefined;
  try {
    pid = await vm.pid(options);
  } catch (error) {
    return { host: host.name, reachable: false, present: false, note: `cannot reach ${host.name}: ${message(error)}` };
  }
  if (pid === undefined) return { host: host.name, reachable: true, present: false };
  try {
    const [status, migration] = await vm.withQmp((qmp) => Promise.all([qmp.execute('query-status'), qmp.execute('query-migrate')]), { timeoutMs: options.timeoutMs ?? 10_000, ...(options.signal && { signal: options.signal }) });
    return { host: host.name, reachable: true, present: true, runState: status.status, migration: migration.status ?? 'none' };
  } catch (error) {
    return { host: host.name, reachable: true, present: true, note: `QEMU (pid ${pid}) did not answer on QMP: ${message(error)}` };
  }
}

const PAUSED: ReadonlySet<string> = new Set(['paused', 'postmigrate', 'finish-migrate', 'prelaunch', 'inmigrate']);

/** Where the VM is, from both sides' QEMU. Two running copies are said as such, never hidden. */
export function locationOf(src: QemuSide, dst: QemuSide | undefined): VmLocation {
  const srcRunning = src.present && src.runState === 'running';
  const dstRunning = dst?.present === true && dst.runState === 'running';
  if (srcRunning && dstRunning) return 'running-on-both';
  if (srcRunning) return 'running-on-source';
  if (dstRunning) return 'running-on-destination';
  if (src.migration === 'postcopy-paused' || dst?.migration === 'postcopy-paused') return 'postcopy-paused';
  if (dst?.present && dst.runState === 'paused' && (dst.migration === 'completed' || dst.migration?.startsWith('postcopy'))) return 'paused-on-destination';
  if (src.present && src.runState !== undefined && PAUSED.has(src.runState) && src.migration !== 'completed') return 'paused-on-source';
  if (src.reachable && !src.present && (dst === undefined || (dst.reachable && !dst.present))) return 'not-found';
  return 'unknown';
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
