import type { PreflightCheck } from '../migration-errors.ts';
import type { VmDisk } from './vm-disks.ts';

/** How a disk travels: `shared` (the destination opens the very same file), `copy` (mirrored over NBD), `auto` (whichever is true). */
export type StorageMode = 'auto' | 'shared' | 'copy';

/** The storage option after defaults: one mode, and per-disk overrides by image path or device name. */
export interface ResolvedStorage {
  mode: StorageMode;
  disks: Record<string, 'shared' | 'copy'>;
}

/** What the two hosts showed about the disks' files (storage-facts.ts reads it). */
export interface StorageFacts {
  /** Images the destination sees as the very same file (a marker made beside it on the source appeared there). */
  shared: ReadonlySet<string>;
  /** Images whose directory took no marker on the source: sharing could not be tested. */
  unprovable: ReadonlySet<string>;
  /** Files that exist on the destination at an image's path, and, when ferry left it there, for which VM. */
  onDestination: ReadonlyMap<string, { leftoverOf?: string }>;
  /** Each image directory on the destination: whether ferry can create an image in it, and the space free there. */
  destinationDirs: ReadonlyMap<string, { writable: boolean; freeBytes: number }>;
}

/** What happens to one disk. */
export interface DiskPlan {
  disk: VmDisk;
  action: 'shared' | 'copy';
  /** A copy replaces a stale image ferry itself left at that path on the destination (an earlier move away). */
  replacesLeftover: boolean;
}

/**
 * Decides, for each disk, whether the destination opens the same file or
 * gets a copy, and refuses (a failed check saying what to do) whatever
 * would start the destination on an image without the VM's data: a disk
 * not on shared storage when copying is not allowed, a different file
 * already at the path, no room or no directory for the copy. A copy is
 * flattened: the destination image is created in the same format and the
 * exact virtual size with no backing file, and the mirror fills it with
 * the whole chain's data.
 */
export function planStorage(vm: string, destination: string, disks: readonly VmDisk[], facts: StorageFacts, storage: ResolvedStorage): { disks: DiskPlan[]; checks: PreflightCheck[] } {
  const plans: DiskPlan[] = [];
  const checks: PreflightCheck[] = [];
  const roomNeeded = new Map<string, number>();
  for (const disk of disks) {
    const wanted = storage.disks[disk.path] ?? storage.disks[disk.device] ?? storage.mode;
    const present = facts.onDestination.get(disk.path);
    const name = `disk ${disk.device} (${disk.path})`;
    if (!disk.writable) {
      // The guest cannot change a read-only image: the same file there is all it needs.
      const ok = present !== undefined || facts.shared.has(disk.path);
      checks.push({ check: 'disk-present', ok, message: ok ? `read-only ${name} is on ${destination}` : `read-only ${name} is missing on ${destination}: put the same file there` });
      if (ok) plans.push({ disk, action: 'shared', replacesLeftover: false });
      continue;
    }
    if (facts.shared.has(disk.path)) {
      if (wanted === 'copy') {
        checks.push({ check: 'disk-shared', ok: false, message: `${name} is on storage ${destination} shares: copying it would overwrite the disk with itself; use storage 'shared' or 'auto'` });
      } else {
        checks.push({ check: 'disk-shared', ok: true, message: `${name} is on storage shared with ${destination}` });
        plans.push({ disk, action: 'shared', replacesLeftover: false });
      }
      continue;
    }
    if (wanted === 'shared') {
      const why = facts.unprovable.has(disk.path) ? `ferry cannot prove ${destination} sees it (its directory is not writable on the source)` : `it is not on storage shared with ${destination} (a file there of the same name would be another disk)`;
      checks.push({ check: 'disk-shared', ok: false, message: `${name}: ${why}; use storage 'copy' or 'auto' to copy it` });
      continue;
    }
    if (facts.unprovable.has(disk.path)) {
      checks.push({ check: 'disk-shared', ok: false, message: `${name}: ferry cannot tell whether ${destination} shares it (its directory is not writable on the source), so it neither copies nor shares it` });
      continue;
    }
    const replacesLeftover = present?.leftoverOf === vm;
    if (present && !replacesLeftover) {
      checks.push({ check: 'disk-copy', ok: false, message: `${destination} already has a file at ${disk.path} that is not this disk (not shared storage, and not a copy ferry left there): ferry will not overwrite it; remove or rename it on ${destination}, then retry` });
      continue;
    }
    const dir = directoryOf(disk.path);
    const room = facts.destinationDirs.get(dir);
    if (!room?.writable) {
      checks.push({ check: 'disk-copy', ok: false, message: `${name}: directory ${dir} is missing or not writable on ${destination}: create it there` });
      continue;
    }
    roomNeeded.set(dir, (roomNeeded.get(dir) ?? 0) + disk.allocatedBytes);
    plans.push({ disk, action: 'copy', replacesLeftover });
  }
  for (const [dir, bytes] of roomNeeded) {
    const free = facts.destinationDirs.get(dir)?.freeBytes ?? 0;
    const copies = plans.filter((plan) => plan.action === 'copy' && directoryOf(plan.disk.path) === dir);
    const ok = free >= bytes;
    checks.push({
      check: 'disk-copy',
      ok,
      message: `${copies.map((plan) => plan.disk.device).join(', ')}: copy ${gib(bytes)} GiB to ${dir} on ${destination} (${gib(free)} GiB free)${ok ? '' : ': free space there first'}`,
    });
  }
  return { disks: plans, checks };
}

/** One line per disk, for the dry run and logs. */
export function describeDiskPlan(plan: DiskPlan, destination: string): string {
  const { disk } = plan;
  const what = `${disk.device}: ${disk.path} (${disk.format}, ${gib(disk.virtualSizeBytes)} GiB${disk.backingFile ? `, backing ${disk.backingFile}` : ''}, cache=${disk.cache}${disk.writable ? '' : ', read-only'})`;
  if (plan.action === 'shared') return `${what}: opened as it is on ${destination} (${disk.writable ? 'shared storage' : 'the same read-only file'})`;
  return `${what}: copied to the same path on ${destination}${plan.replacesLeftover ? ' (replacing the stale copy ferry left there)' : ''} over NBD${disk.backingFile ? ', flattened (no backing file)' : ''}`;
}

export function directoryOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}

function gib(bytes: number): string {
  return (bytes / 1024 ** 3).toFixed(bytes < 1024 ** 3 ? 2 : 1);
}
