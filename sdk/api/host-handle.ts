import { Host } from '../model/host.ts';
import type { Fleet } from '../model/fleet.ts';
import { checkVmName } from '../model/vm-paths.ts';
import { Evacuation, clearMaintenance, readMaintenance, type EvacuateOptions, type MaintenanceMark } from '../evacuation/index.ts';
import { VmHandle } from './vm-handle.ts';

/** A host as users hold it: the model's host, whose VMs can be migrated, and which can be evacuated. */
export class HostHandle extends Host {
  constructor(fleet: Fleet, name: string) {
    super(fleet, name);
  }

  /**
   * A handle on one VM of this host (found by `<runDir>/<vm>.qmp` and `.pid`).
   *
   * @example
   * await host('a').vm('web').status();
   */
  override vm(name: string): VmHandle {
    return new VmHandle(this, checkVmName(name));
  }

  /**
   * Starts a VM here by ferry's convention (see Host.launch).
   *
   * @example
   * const web = await host('a').launch('web', ['-m', '1024', '-drive', 'file=/var/lib/vms/web.qcow2,if=virtio']);
   * await web.migrateTo('b');
   */
  override async launch(name: string, qemuArgs: readonly string[], options: { signal?: AbortSignal } = {}): Promise<VmHandle> {
    await super.launch(name, qemuArgs, options);
    return this.vm(name);
  }

  /** Another host of the same fleet. */
  sibling(name: string): HostHandle {
    return new HostHandle(this.fleet, name);
  }

  /**
   * Moves every VM off this host and marks it in maintenance (so nothing is
   * placed on it) until endMaintenance(). Returns at once with an Evacuation
   * to await (a report: never a rejection halfway), watch or cancel.
   *
   * @example
   * const report = await host('a').evacuate({ to: ['b', 'c'], maxDowntime: 300 });
   * for (const vm of report.failed) console.log(`${vm.vm} failed, runs on ${vm.runsOn}: ${vm.error.message}`);
   */
  evacuate(options: EvacuateOptions = {}): Evacuation {
    return new Evacuation(this.fleet, this.name, options);
  }

  /**
   * Returns home the VMs this host's evacuations moved away, as their
   * journal says (end its maintenance first).
   *
   * @example
   * await host('a').endMaintenance();
   * const report = await host('a').moveBack();
   */
  moveBack(options: Omit<EvacuateOptions, 'to'> = {}): Evacuation {
    return new Evacuation(this.fleet, this.name, options, 'move-back');
  }

  /**
   * Clears the maintenance mark an evacuation left (`<runDir>/.ferry-maintenance`
   * on the host), so VMs may be placed here again.
   *
   * @example
   * await host('a').endMaintenance();
   */
  endMaintenance(options: { signal?: AbortSignal } = {}): Promise<void> {
    return clearMaintenance(this, options);
  }

  /**
   * The host's maintenance mark (who, when, why), or undefined when it takes VMs.
   *
   * @example
   * if (await host('a').maintenance()) console.log('a is in maintenance');
   */
  maintenance(options: { signal?: AbortSignal } = {}): Promise<MaintenanceMark | undefined> {
    return readMaintenance(this, options);
  }
}
