import type { CommandResult, ExecOptions, HostTransport } from '../transport/index.ts';
import { sh, SshTransport, type ShellValue } from '../transport/index.ts';
import { throwIfAborted } from '../ferry-error.ts';
import type { Fleet, ResolvedHostConfig } from './fleet.ts';
import { checkVmName, vmPaths, type VmPaths } from './vm-paths.ts';
import { withRunDirConvention } from './qemu-convention.ts';
import { withAlive } from './live-process.ts';
import { VmAlreadyRunningError, VmLaunchError } from './model-errors.ts';
import { Vm } from './vm.ts';
import { describeVmState, readVmQemuState, type VmQemuState } from './vm-state.ts';

/** A VM found in a host's runDir. */
export interface VmSummary {
  host: string;
  name: string;
  pid: number | undefined;
  /** `running` when its QEMU process exists; `stale` when only its files remain. */
  process: 'running' | 'stale';
  /** A migration of it is in progress or was interrupted (its lock exists). */
  migrating: boolean;
  /** What its QEMU says (unless `qemu: false` was asked, or its QMP socket is held by a migration). */
  qemu?: VmQemuState;
  /** One phrase from QEMU's own state: `running`, `paused at switchover`, `migrated away (a stale copy)`, … */
  state: string;
}

/** What a host offers a VM: free memory, its QEMU. */
export interface HostFacts {
  memAvailableBytes: number;
  memTotalBytes: number;
  qemuVersion: string | undefined;
  cpuFlags: string[];
}

/**
 * A cheap, immutable handle on one configured host. Nothing is contacted
 * until a method that needs the host is called.
 *
 * @example
 * const a = host('a');
 * console.log(await a.vms());
 * await a.$`df -h ${dir}`;
 */
export class Host {
  readonly name: string;
  readonly #fleet: Fleet;

  constructor(fleet: Fleet, name: string) {
    this.#fleet = fleet;
    this.name = name;
    fleet.hostConfig(name); // unknown hosts fail here, not at first use
  }

  get config(): ResolvedHostConfig {
    return this.#fleet.hostConfig(this.name);
  }

  get transport(): HostTransport {
    return this.#fleet.transport(this.name);
  }

  protected get fleet(): Fleet {
    return this.#fleet;
  }

  /** The address a destination QEMU on this host listens on for migrations. */
  get migrationAddress(): string {
    const config = this.config;
    if (config.migrationAddress) return config.migrationAddress;
    if (config.local || !config.ssh) return '127.0.0.1';
    // The address ssh really connects to: an alias resolved through the SSH config.
    const transport = this.transport;
    if (transport instanceof SshTransport && transport.settings) return transport.settings.host;
    return sshHostPart(config.ssh);
  }

  /** Runs argv on the host (each argument quoted for its shell). */
  exec(argv: readonly string[], options?: ExecOptions): Promise<CommandResult> {
    return this.transport.exec(argv, options);
  }

  /**
   * Runs a command with every interpolation quoted for a POSIX shell, as zx does locally.
   *
   * @example
   * const { stdout } = await host('a').$`ls ${runDir}`;
   */
  $(literals: TemplateStringsArray, ...values: readonly ShellValue[]): Promise<CommandResult> {
    return this.transport.shell(sh(literals, ...values));
  }

  /** A handle on the VM called `name` on this host (checked when used). */
  vm(name: string): Vm {
    return new Vm(this, checkVmName(name));
  }

  /**
   * The VMs in this host's runDir, found by ferry's convention
   * (`<runDir>/<vm>.pid` next to `<runDir>/<vm>.qmp`), including VMs ferry did not start.
   */
  async vms(options: { signal?: AbortSignal; qemu?: boolean } = {}): Promise<VmSummary[]> {
    throwIfAborted(options.signal);
    // One round trip; NUL-separated so that any file name comes back intact.
    const script = withAlive(sh`cd ${this.config.runDir} 2>/dev/null || exit 0
for f in *.qmp; do
  [ -S "$f" ] || continue
  n=\${f%.qmp}
  p=$(cat "$n.pid" 2>/dev/null)
  s=stale
  if alive "$p"; then s=running; fi
  m=0; [ -d "$n.migration" ] && m=1
  printf '%s\\0%s\\0%s\\0%s\\0' "$n" "$p" "$s" "$m"
done`);
    const { stdout } = await this.transport.shell(script, options);
    const fields = stdout.split('\0');
    const vms: VmSummary[] = [];
    for (let i = 0; i + 3 < fields.length; i += 4) {
      const pid = Number.parseInt(fields[i + 1] ?? '', 10);
      const process = fields[i + 2] === 'running' ? 'running' : 'stale';
      vms.push({ host: this.name, name: fields[i] ?? '', pid: Number.isInteger(pid) ? pid : undefined, process, migrating: fields[i + 3] === '1', state: process === 'running' ? 'running' : describeVmState(undefined, false) });
    }
    if (options.qemu !== false) {
      // The truth is QEMU's: a live process may be paused, waiting for a migration, or a stale copy.
      await Promise.all(vms.filter((vm) => vm.process === 'running').map(async (vm) => {
        const qemu = await readVmQemuState(this.vm(vm.name), options).catch(() => undefined);
        if (qemu) {
          vm.qemu = qemu;
          vm.state = describeVmState(qemu, vm.migrating);
        }
      }));
    }
    return vms.sort((x, y) => x.name.localeCompare(y.name));
  }

  /** Free and total memory, QEMU's version and the CPU's flags, in one round trip. */
  async facts(options: { signal?: AbortSignal } = {}): Promise<HostFacts> {
    const script = sh`grep -E '^(MemTotal|MemAvailable):' /proc/meminfo
echo "flags: $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2)"
echo "qemu: $(${this.config.qemuBinary} --version 2>/dev/null | head -1)"`;
    const { stdout } = await this.transport.shell(script, options);
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(stdout)?.[1] ?? 0) * 1024;
    return {
      memAvailableBytes: kib('MemAvailable'),
      memTotalBytes: kib('MemTotal'),
      qemuVersion: /^qemu: .*?version (\d+\.\d+(?:\.\d+)?)/m.exec(stdout)?.[1],
      cpuFlags: (/^flags: (.*)$/m.exec(stdout)?.[1] ?? '').trim().split(/\s+/).filter(Boolean),
    };
  }

  /**
   * Starts a VM on this host by ferry's convention: `qemuArgs` are the
   * machine's own options; ferry adds `-name`, `-daemonize`, the pid file
   * and the QMP socket in the runDir, and returns once QEMU runs.
   *
   * @example
   * const web = await host('a').launch('web', ['-m', '1024', '-drive', 'file=/var/lib/vms/web.qcow2,if=virtio']);
   */
  async launch(name: string, qemuArgs: readonly string[], options: { signal?: AbortSignal } = {}): Promise<Vm> {
    const vm = this.vm(name);
    if ((await vm.pid(options)) !== undefined) throw new VmAlreadyRunningError(this.name, name);
    const paths = vm.paths;
    const argv = withRunDirConvention([this.config.qemuBinary, '-name', name, ...qemuArgs], { qmpSocket: paths.qmp, pidFile: paths.pid });
    const script = sh`mkdir -p ${this.config.runDir} && rm -f ${paths.qmp} ${paths.pid} && exec ${argv}`;
    const result = await this.transport.shell(script, { ...options, allowFailure: true });
    if (result.exitCode !== 0) throw new VmLaunchError(this.name, name, result.stderr.trim().split('\n').at(-1) || `exit code ${result.exitCode}`);
    return vm;
  }

  /** Another host of the same fleet (a migration's record names its destination). */
  peer(name: string): Host {
    return new Host(this.#fleet, name);
  }

  /** The paths of `vm` on this host by ferry's convention. */
  paths(vm: string): VmPaths {
    return vmPaths(this.config.runDir, vm);
  }
}

/** `user@host:port` or `[v6]:port` to the host part; an alias is returned as is. */
function sshHostPart(target: string): string {
  const withoutUser = target.slice(target.lastIndexOf('@') + 1);
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(withoutUser);
  if (bracketed?.[1]) return bracketed[1];
  const colon = withoutUser.indexOf(':');
  return colon >= 0 && withoutUser.indexOf(':', colon + 1) < 0 ? withoutUser.slice(0, colon) : withoutUser;
}
