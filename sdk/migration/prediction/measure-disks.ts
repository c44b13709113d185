import type { Host } from '../../model/host.ts';
import type { Vm } from '../../model/vm.ts';
import { diskImages } from '../disk-images.ts';
import type { ResolvedMigrationOptions } from '../migration-options.ts';
import { readStorageFacts } from '../storage/storage-facts.ts';
import { planStorage } from '../storage/storage-plan.ts';
import { readVmDisks } from '../storage/vm-disks.ts';

/**
 * The bytes a migration would copy before memory moves: the allocated size of
 * each disk the storage plan copies (what preflight would decide, read the
 * same way). A disk that would be refused counts as not copied.
 */
export async function diskBytesToCopy(vm: Vm, destination: Host, options: ResolvedMigrationOptions, signal?: AbortSignal): Promise<number> {
  const argv = await vm.commandLine(signal ? { signal } : {});
  if (diskImages(argv).length === 0) return 0;
  const disks = await vm.withQmp((qmp) => readVmDisks(qmp, argv, signal ? { signal } : {}), signal ? { signal } : {});
  const facts = await readStorageFacts(vm.host, destination, disks, signal ? { signal } : {});
  const { disks: plans } = planStorage(vm.name, destination.name, disks, facts, options.storage);
  return plans.filter((plan) => plan.action === 'copy').reduce((sum, plan) => sum + plan.disk.allocatedBytes, 0);
}
