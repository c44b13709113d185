import { host, hosts } from '../sdk/index.ts';

const VM_TTL_MS = 10_000;
const LOOKUP_TIMEOUT_MS = 3000;

/**
 * What completion needs from the fleet, cached: a TAB must answer at once,
 * and a host that is slow or a VM whose QMP socket is held by a migration
 * must not hang the prompt (each look-up gives up after 3 s).
 */
export class FleetCache {
  readonly #vms = new Map<string, { at: number; names: Promise<string[]> }>();
  readonly #qmp = new Map<string, string[]>();

  hostNames(): string[] {
    try {
      return hosts().map((h) => h.name);
    } catch {
      return [];
    }
  }

  vmNames(hostName: string): Promise<string[]> {
    const cached = this.#vms.get(hostName);
    if (cached && Date.now() - cached.at < VM_TTL_MS) return cached.names;
    const names = host(hostName)
      .vms({ signal: AbortSignal.timeout(LOOKUP_TIMEOUT_MS), qemu: false })
      .then((vms) => vms.filter((vm) => vm.process === 'running').map((vm) => vm.name))
      .catch(() => cached?.names ?? Promise.resolve([]));
    this.#vms.set(hostName, { at: Date.now(), names });
    return names;
  }

  /** `query-commands` of that VM, once per VM; another VM's list while a migration holds its socket (same QEMU, same commands). */
  async qmpCommands(hostName: string, vm: string): Promise<string[]> {
    const key = `${hostName}/${vm}`;
    const cached = this.#qmp.get(key);
    if (cached) return cached;
    try {
      const commands = await host(hostName).vm(vm).qmp('query-commands', {}, { timeoutMs: LOOKUP_TIMEOUT_MS, signal: AbortSignal.timeout(LOOKUP_TIMEOUT_MS) });
      const names = commands.map((command) => command.name).sort();
      this.#qmp.set(key, names);
      return names;
    } catch {
      return this.#qmp.values().next().value ?? [];
    }
  }

  /** Forgets VM lists (after a migration moved one). */
  invalidate(): void {
    this.#vms.clear();
  }
}
