import type { Host } from '../../model/host.ts';
import type { Vm } from '../../model/vm.ts';
import type { ResolvedMigrationOptions } from '../migration-options.ts';
import { diskImages } from '../disk-images.ts';
import { planVmStorage } from '../storage/plan-vm-storage.ts';

/**
 * The bytes a migration would copy before memory moves: the allocated size of
 * each disk the storage plan copies (planned as preflight plans it). A disk
 * that would be refused counts as not copied.
 */
export async function diskBytesToCopy(vm: Vm, destination: Host, options: ResolvedMigrationOptions, signal?: AbortSignal): Promise<number> {
  const argv = await vm.commandLine(signal ? { signal } : {});
  if (diskImages(argv).length === 0) return 0;
  const { disks } = await vm.withQmp((qmp) => planVmStorage({ vm: vm.name, source: vm.host, destination, qmp, argv, storage: options.storage, signal }), signal ? { signal } : {});
  return disks.filter((plan) => plan.action === 'copy').reduce((sum, plan) => sum + plan.disk.allocatedBytes, 0);
}
