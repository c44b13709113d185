/**
 * Anti-affinity groups from the config (`antiAffinity: { db: ['db1', 'db2'] }`):
 * no two VMs of one group may run on the same host. Groups name VMs rather
 * than tag hosts because it is the VMs that must be kept apart, wherever
 * they run; a VM may belong to several groups.
 */
export class AntiAffinity {
  readonly #groupsOf = new Map<string, string[]>();
  readonly #together: ReadonlySet<string>;

  /**
   * `together`: VMs that may share a host with each other whatever their
   * groups, because they did before (a move-back restores the layout the
   * journal recorded); each still keeps apart from every other VM of its group.
   */
  constructor(groups: Readonly<Record<string, readonly string[]>> = {}, together: ReadonlySet<string> = new Set()) {
    this.#together = together;
    for (const [group, vms] of Object.entries(groups)) {
      for (const vm of vms) this.#groupsOf.set(vm, [...(this.#groupsOf.get(vm) ?? []), group]);
    }
  }

  groupsOf(vm: string): string[] {
    return this.#groupsOf.get(vm) ?? [];
  }

  /** The VM among `present` (names on one host) that `vm` may not join, and the group that forbids it. */
  conflict(vm: string, present: Iterable<string>): { vm: string; group: string } | undefined {
    const groups = this.groupsOf(vm);
    if (groups.length === 0) return undefined;
    for (const other of present) {
      if (other === vm || (this.#together.has(vm) && this.#together.has(other))) continue;
      const shared = groups.find((group) => this.groupsOf(other).includes(group));
      if (shared) return { vm: other, group: shared };
    }
    return undefined;
  }
}
