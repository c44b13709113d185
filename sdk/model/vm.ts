import { QmpClient, type MigrationStatus, type QmpCommandMap, type QmpExecuteOptions, type RunState } from '../qmp/index.ts';
import { describeVmState, readVmQemuState } from './vm-state.ts';
import { throwIfAborted } from '../ferry-error.ts';
import { sh } from '../transport/index.ts';
import type { Host } from './host.ts';
import { VmNotFoundError } from './model-errors.ts';
import { withAlive } from './live-process.ts';
import type { VmPaths } from './vm-paths.ts';

/** A VM as its host and its QEMU report it. */
export interface VmStatus {
  host: string;
  name: string;
  pid: number;
  /** QEMU's run state: `running`, `paused`, `inmigrate`, `postmigrate`, … (absent while a migration's guard holds QMP). */
  runState?: RunState;
  running: boolean;
  /** QEMU's migration status (`none` when it never migrated). */
  migration?: MigrationStatus;
  /** A migration's lock is on this VM (in progress, or interrupted). */
  migrating: boolean;
  /** One phrase from QEMU's own state, as `ferry status` prints it. */
  state: string;
}

type CommandArgs<K extends keyof QmpCommandMap> = QmpCommandMap[K]['args'];
type CommandReturn<K extends keyof QmpCommandMap> = QmpCommandMap[K]['returns'];

/**
 * A cheap handle on one VM on one host, found by ferry's runDir convention.
 * QMP connections it opens are short-lived: QEMU serves one QMP client per
 * socket at a time, and a held connection would hide the VM from everyone else.
 *
 * @example
 * const vm = host('a').vm('web');
 * console.log(await vm.status());
 * await vm.qmp('stop');
 */
export class Vm {
  readonly host: Host;
  readonly name: string;

  constructor(host: Host, name: string) {
    this.host = host;
    this.name = name;
  }

  /** `host/vm`, as the CLI writes it. */
  get label(): string {
    return `${this.host.name}/${this.name}`;
  }

  get paths(): VmPaths {
    return this.host.paths(this.name);
  }

  /** The pid of its running QEMU, or undefined when none runs (no pid file, process gone or a zombie). */
  async pid(options: { signal?: AbortSignal } = {}): Promise<number | undefined> {
    const script = withAlive(sh`p=$(cat ${this.paths.pid} 2>/dev/null) || exit 0
if alive "$p"; then echo "$p"; fi`);
    const { stdout } = await this.host.transport.shell(script, options);
    const pid = Number.parseInt(stdout.trim(), 10);
    return Number.isInteger(pid) ? pid : undefined;
  }

  /** Its pid, or a VmNotFoundError that says what is missing. */
  async requirePid(options: { signal?: AbortSignal } = {}): Promise<number> {
    const pid = await this.pid(options);
    if (pid === undefined) throw new VmNotFoundError(this.host.name, this.name, `no running QEMU with pid file ${this.paths.pid}`);
    return pid;
  }

  /** Its QEMU's pid and run state. */
  async status(options: { signal?: AbortSignal } = {}): Promise<VmStatus> {
    const pid = await this.requirePid(options);
    const [qemu, lock] = await Promise.all([
      readVmQemuState(this, options),
      this.host.transport.exec(['test', '-d', this.paths.migrationLock], { ...options, allowFailure: true }).then((result) => result.exitCode === 0),
    ]);
    return {
      host: this.host.name, name: this.name, pid,
      ...(qemu.runState && { runState: qemu.runState }),
      running: qemu.runState === 'running',
      ...(qemu.migration && { migration: qemu.migration }),
      migrating: lock,
      state: describeVmState(qemu, lock),
    };
  }

  /**
   * Opens a QMP connection to the VM's QEMU for the duration of `work`, then closes it.
   *
   * @example
   * const info = await vm.withQmp((qmp) => qmp.execute('query-migrate'));
   */
  async withQmp<T>(work: (qmp: QmpClient) => Promise<T>, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<T> {
    const qmp = await this.connectQmp(options);
    try {
      return await work(qmp);
    } finally {
      await qmp.close();
    }
  }

  /** Opens a QMP connection that the caller must close. */
  async connectQmp(options: { signal?: AbortSignal; timeoutMs?: number; enableCapabilities?: string[] } = {}): Promise<QmpClient> {
    throwIfAborted(options.signal);
    let stream;
    try {
      stream = await this.host.transport.openUnixSocket(this.paths.qmp, options.signal ? { signal: options.signal } : {});
    } catch (cause) {
      // Tell a missing VM from a broken host: only the former has no pid.
      if ((await this.pid(options).catch(() => 0)) === undefined) {
        throw new VmNotFoundError(this.host.name, this.name, `no QMP socket at ${this.paths.qmp} and no running QEMU`);
      }
      throw cause;
    }
    return QmpClient.connect(stream, { ...options, label: this.label });
  }

  /**
   * Runs one QMP command on a short-lived connection.
   *
   * @example
   * const { status } = await host('a').vm('web').qmp('query-status');
   */
  qmp<K extends keyof QmpCommandMap>(command: K, args?: CommandArgs<K>, options: QmpExecuteOptions = {}): Promise<CommandReturn<K>> {
    return this.withQmp((qmp) => qmp.execute(command, args, options), options);
  }

  /** Runs any QMP command (one ferry has no types for). */
  qmpUnchecked(command: string, args?: Record<string, unknown>, options: QmpExecuteOptions = {}): Promise<unknown> {
    return this.withQmp((qmp) => qmp.executeUnchecked(command, args, options), options);
  }

  /** Its QEMU's command line as the host's kernel reports it (`/proc/<pid>/cmdline`). */
  async commandLine(options: { signal?: AbortSignal } = {}): Promise<string[]> {
    const pid = await this.requirePid(options);
    const { stdout } = await this.host.transport.exec(['cat', `/proc/${pid}/cmdline`], options);
    const argv = stdout.split('\0');
    if (argv.at(-1) === '') argv.pop();
    return argv;
  }
}
