import { InvalidNameError } from './model-errors.ts';

/**
 * ferry's convention for a VM on a host, relied on to adopt VMs that ferry
 * did not start: `<runDir>/<vm>.qmp` is its QMP socket, `<runDir>/<vm>.pid`
 * its QEMU's pid file. ferry adds `<runDir>/<vm>.migration/` while it
 * migrates the VM away (the lock, and a status record observers can read).
 */
export interface VmPaths {
  qmp: string;
  pid: string;
  /** Present only while a migration of the VM is in progress (a directory: mkdir is atomic). */
  migrationLock: string;
  migrationStatus: string;
}

export function vmPaths(runDir: string, vm: string): VmPaths {
  const base = `${runDir.replace(/\/+$/, '')}/${vm}`;
  return { qmp: `${base}.qmp`, pid: `${base}.pid`, migrationLock: `${base}.migration`, migrationStatus: `${base}.migration/status.json` };
}

// UNIX socket paths hold at most 107 bytes; leave room for the runDir.
const MAX_VM_NAME_BYTES = 64;

/**
 * A VM name must be usable as one file name: no `/`, no NUL, not `.`/`..`
 * nor starting with `.`. Anything else (spaces, `;`, `$()`) is allowed: names
 * are always quoted, never interpreted by a shell.
 */
export function checkVmName(name: string): string {
  if (name.length === 0) throw new InvalidNameError('vm', name, 'it is empty');
  if (name.includes('/') || name.includes('\0')) throw new InvalidNameError('vm', name, "it may not contain '/' or NUL");
  if (name.startsWith('.')) throw new InvalidNameError('vm', name, "it may not start with '.'");
  if (name.includes('\n')) throw new InvalidNameError('vm', name, 'it may not contain a newline');
  if (Buffer.byteLength(name) > MAX_VM_NAME_BYTES) throw new InvalidNameError('vm', name, `it is longer than ${MAX_VM_NAME_BYTES} bytes`);
  return name;
}

/**
 * A host's maintenance mark lives on the host, in its runDir, so every ferry
 * process sees it (evacuations set it; migrations refuse such a destination).
 */
export const MAINTENANCE_MARKER = '.ferry-maintenance';

export function maintenanceMarkerPath(runDir: string): string {
  return `${runDir.replace(/\/+$/, '')}/${MAINTENANCE_MARKER}`;
}

/** What ferry's guards did on a host when their ferry was gone, one line each (see sdk/migration/guard). */
export function guardLogPath(runDir: string): string {
  return `${runDir.replace(/\/+$/, '')}/.ferry-guard.log`;
}
