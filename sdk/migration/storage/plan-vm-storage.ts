import type { Host } from '../../model/host.ts';
import type { QmpClient } from '../../qmp/index.ts';
import { diskImages } from '../disk-images.ts';
import type { PreflightCheck } from '../migration-errors.ts';
import { readStorageFacts } from './storage-facts.ts';
import { planStorage, type DiskPlan, type ResolvedStorage } from './storage-plan.ts';
import { readVmDisks } from './vm-disks.ts';

/**
 * What happens to each of a VM's disks, read and decided the one way that
 * preflight, the dry run and prediction all use: its disks from its QEMU,
 * one look at each host's files, then the pure plan. A VM without disk
 * images costs no round trip.
 */
export async function planVmStorage(input: {
  vm: string;
  source: Host;
  destination: Host;
  qmp: QmpClient;
  argv: readonly string[];
  storage: ResolvedStorage;
  signal?: AbortSignal | undefined;
}): Promise<{ disks: DiskPlan[]; checks: PreflightCheck[] }> {
  if (diskImages(input.argv).length === 0) return { disks: [], checks: [] };
  const options = input.signal ? { signal: input.signal } : {};
  const disks = await readVmDisks(input.qmp, input.argv, options);
  const facts = await readStorageFacts(input.source, input.destination, disks, options);
  return planStorage(input.vm, input.destination.name, disks, facts, input.storage);
}
