import { join } from 'node:path';

/**
 * How a lab Debian 12 guest is shaped (built by build-debian-guest.sh). It
 * runs systemd and three lab services: a sequence stream per TCP client
 * (sequence-stream.ts), a record writer with fdatasync checked by
 * `ferry-verify-records` in the guest, and a command service
 * (guest-command.ts); stress-ng only on request.
 */
export interface DebianGuestSpec {
  /** Default 1024. */
  memoryMiB?: number;
  /** vCPUs (default 1). */
  cpus?: number;
  /**
   * The root disk, as the host sees it (default
   * `/srv/ferry-host/<name>.qcow2`: the host's local storage; a path outside
   * it is shared storage). A missing image is made as a full copy of the
   * built base (self-contained, no backing file: a storage migration copies
   * it alone), except for an `incoming` guest, whose image is the
   * migration's business.
   */
  disk?: { path?: string; cache?: string; blockdev?: boolean };
  /** Start the QEMU waiting for an incoming migration (`-incoming` value) instead of booting. */
  incoming?: string;
  /** Last octet of the guest's address (default: derived from the name). */
  addressOctet?: number;
  /** Numbers per second the sequence service sends each client (default 2000). */
  sequenceRate?: number;
  /** Records per second the record writer appends, each with fdatasync (default 20). */
  recordsPerSecond?: number;
  /** Runs `stress-ng --vm <workers> --vm-bytes <bytes> --vm-method <method> --vm-keep --verify` (issue 14's busy guest). */
  stress?: { workers?: number; bytes: string; method?: string };
  /** A pvpanic device, so QEMU reports a guest panic as GUEST_PANICKED. */
  pvpanic?: boolean;
  /** More QEMU options, appended (benchmarks: QEMU's trace); a destination ferry starts copies them. */
  qemuArgs?: string[];
}

/** The built guest's files under the lab directory. */
export function debianFiles(labDir: string): { dir: string; base: string; kernel: string; initrd: string } {
  const dir = join(labDir, 'debian');
  return { dir, base: join(dir, 'base.qcow2'), kernel: join(dir, 'vmlinux'), initrd: join(dir, 'initrd.cpio') };
}

/** The kernel command line: root on the virtio disk, the lab's address and the services' knobs. */
export function debianKernelAppend(address: string, spec: DebianGuestSpec): string {
  return [
    'console=ttyS0', 'root=/dev/vda', 'rw', 'net.ifnames=0', 'quiet', 'panic=-1',
    // pti=on keeps QEMU 7.2's TCG on the dirty-tracking path (LAB.md).
    'pti=on',
    `ferry.ip=${address}/24`,
    `ferry.seq_rate=${spec.sequenceRate ?? 2000}`,
    `ferry.records_rate=${spec.recordsPerSecond ?? 20}`,
    ...(spec.stress
      ? [`ferry.stress_vm=${spec.stress.workers ?? 1}`, `ferry.stress_vm_bytes=${spec.stress.bytes}`, `ferry.stress_vm_method=${spec.stress.method ?? 'all'}`]
      : []),
  ].join(' ');
}
