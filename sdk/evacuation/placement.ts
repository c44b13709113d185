import type { AntiAffinity } from './anti-affinity.ts';
import { compareQemuVersions } from './qemu-version.ts';

// QEMU's own overhead beside guest RAM: the same headroom the migration's preflight demands.
export const MEMORY_HEADROOM_BYTES = 128 * 1024 ** 2;

/** A VM to place: its guest RAM. */
export interface PlacementVm {
  name: string;
  memoryBytes: number;
  /** The QEMU its process runs, when known: it may only go to a host whose QEMU is at least as new. */
  qemuVersion?: string;
}

/** A host that may receive VMs, as surveyed. */
export interface PlacementHost {
  name: string;
  memAvailableBytes: number;
  memoryBudgetBytes: number | undefined;
  /** VMs running there now (names, and their guest RAM toward the budget). */
  vms: ReadonlyArray<{ name: string; memoryBytes: number }>;
  /** The QEMU a VM received there would run, when known. */
  qemuVersion?: string;
  /** Why it takes nothing (maintenance, unreachable), if so. */
  excluded?: string;
}

export type Placement = { vm: string; to: string } | { vm: string; to: undefined; reason: string };

/**
 * A ledger of what each destination can still take: memory actually free
 * there minus what is already planned for it, its budget, and which VMs it
 * will hold (for anti-affinity). Placing and releasing keep it exact, so a
 * retry elsewhere sees every other plan.
 */
export class PlacementLedger {
  readonly #hosts = new Map<string, { host: PlacementHost; plannedBytes: number; guestBytes: number; names: Set<string> }>();
  readonly #affinity: AntiAffinity;

  constructor(hosts: readonly PlacementHost[], affinity: AntiAffinity) {
    this.#affinity = affinity;
    for (const host of hosts) {
      const guestBytes = host.vms.reduce((sum, vm) => sum + vm.memoryBytes, 0);
      this.#hosts.set(host.name, { host, plannedBytes: 0, guestBytes, names: new Set(host.vms.map((vm) => vm.name)) });
    }
  }

  /**
   * The destination for `vm` with the most room left after it (spreading
   * load), honouring free memory, budgets, anti-affinity and exclusions; or
   * why none can take it. Records the choice.
   */
  place(vm: PlacementVm, options: { exclude?: readonly string[] } = {}): Placement {
    const refusals: string[] = [];
    let best: { name: string; room: number } | undefined;
    for (const name of this.#hosts.keys()) {
      const why = this.#refusal(vm, name, options.exclude ?? []);
      if (why) {
        refusals.push(why);
        continue;
      }
      const room = this.roomAfter(name, vm.memoryBytes);
      if (!best || room > best.room) best = { name, room };
    }
    if (!best) return { vm: vm.name, to: undefined, reason: refusals.length ? refusals.join('; ') : 'no destination hosts' };
    this.#take(vm, best.name);
    return { vm: vm.name, to: best.name };
  }

  /** Forgets `vm`'s place on `host` (its migration there failed). */
  release(vm: PlacementVm, host: string): void {
    const entry = this.#hosts.get(host);
    if (!entry || !entry.names.delete(vm.name)) return;
    entry.plannedBytes -= vm.memoryBytes + MEMORY_HEADROOM_BYTES;
    entry.guestBytes -= vm.memoryBytes;
  }

  /** Bytes `host` would have left after taking `memoryBytes` more: the tighter of free memory and budget. */
  roomAfter(host: string, memoryBytes: number): number {
    const entry = this.#hosts.get(host);
    if (!entry) return Number.NEGATIVE_INFINITY;
    const free = entry.host.memAvailableBytes - entry.plannedBytes - (memoryBytes + MEMORY_HEADROOM_BYTES);
    const budget = entry.host.memoryBudgetBytes === undefined ? Number.POSITIVE_INFINITY : entry.host.memoryBudgetBytes - entry.guestBytes - memoryBytes;
    return Math.min(free, budget);
  }

  #refusal(vm: PlacementVm, name: string, exclude: readonly string[]): string | undefined {
    const entry = this.#hosts.get(name);
    if (!entry) return undefined;
    if (entry.host.excluded) return `${name}: ${entry.host.excluded}`;
    if (exclude.includes(name)) return `${name}: excluded (an attempt there failed)`;
    if (entry.names.has(vm.name)) return `${name}: a VM called ${vm.name} already runs there`;
    // Preflight refuses newer → older (QEMU cannot load a newer QEMU's stream): never plan one.
    if (vm.qemuVersion !== undefined && entry.host.qemuVersion !== undefined && compareQemuVersions(entry.host.qemuVersion, vm.qemuVersion) < 0) {
      return `${name}: QEMU ${entry.host.qemuVersion} there is older than the ${vm.qemuVersion} ${vm.name} runs (a VM never moves to an older QEMU)`;
    }
    const conflict = this.#affinity.conflict(vm.name, entry.names);
    if (conflict) return `${name}: anti-affinity group ${conflict.group} (${conflict.vm} is there)`;
    const free = entry.host.memAvailableBytes - entry.plannedBytes;
    const need = vm.memoryBytes + MEMORY_HEADROOM_BYTES;
    if (free < need) return `${name}: ${mib(free)} MiB free after what is planned, needs ${mib(need)} MiB`;
    const budget = entry.host.memoryBudgetBytes;
    if (budget !== undefined && entry.guestBytes + vm.memoryBytes > budget) {
      return `${name}: memory budget ${mib(budget)} MiB, ${mib(entry.guestBytes)} MiB of guests already there or planned, needs ${mib(vm.memoryBytes)} MiB more`;
    }
    return undefined;
  }

  #take(vm: PlacementVm, host: string): void {
    const entry = this.#hosts.get(host);
    if (!entry) return;
    entry.names.add(vm.name);
    entry.plannedBytes += vm.memoryBytes + MEMORY_HEADROOM_BYTES;
    entry.guestBytes += vm.memoryBytes;
  }
}

/**
 * Places VMs largest first (first-fit decreasing packs best; each goes where
 * most room is left, so load spreads). Returns one placement per VM, in the
 * order given.
 *
 * @example
 * const placements = placeVms(vms, new PlacementLedger(hosts, new AntiAffinity(config.antiAffinity)));
 */
export function placeVms(vms: readonly PlacementVm[], ledger: PlacementLedger): Placement[] {
  const bySize = [...vms].sort((x, y) => y.memoryBytes - x.memoryBytes || x.name.localeCompare(y.name));
  const placed = new Map(bySize.map((vm) => [vm.name, ledger.place(vm)]));
  return vms.map((vm) => placed.get(vm.name) ?? { vm: vm.name, to: undefined, reason: 'not placed' });
}

function mib(bytes: number): number {
  return Math.round(bytes / 1024 ** 2);
}
