import { Host } from '../model/host.ts';
import type { Fleet } from '../model/fleet.ts';
import { checkVmName } from '../model/vm-paths.ts';
import { VmHandle } from './vm-handle.ts';

/** A host as users hold it: the model's host, whose VMs can be migrated. */
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

  /** Another host of the same fleet. */
  sibling(name: string): HostHandle {
    return new HostHandle(this.fleet, name);
  }
}
