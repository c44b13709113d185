import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { FakeQmpError, FakeQmpServer } from './fake-qmp-server.ts';

/** A QEMU's run state and migration status, as QMP reports them. */
export interface FakeQemuState {
  runState: string;
  migration: string;
  /** RAM left to send (`ram.remaining`), reported while migrating. */
  remaining?: number;
}

/** How the stand-in process behaves. */
export interface FakeQemuOptions {
  /**
   * Its one "vCPU" thread (query-cpus-fast) sits in a timed futex wait this long, as a vCPU in QEMU's throttle
   * sleep does (node's Atomics.wait: FUTEX_WAIT_BITSET with a deadline); otherwise it sleeps in nanosleep.
   */
  vcpuAsleepMs?: number;
}

/**
 * A fake QEMU in the middle of a migration, for fast tests of what ferry's
 * guard does in every state: FakeQmpServer on a real UNIX socket, a pid file
 * naming a stand-in process (`sleep`) that `quit` and kills end, and the
 * state changes QEMU 7.2 makes for the commands the guard sends (verified
 * on the lab, see shared/research): `migrate_cancel` before switchover ends
 * `cancelled` and resumes a guest that was running (not on the post-copy
 * path), `cont` runs the guest, `quit` ends the process.
 */
export class FakeMigratingQemu {
  readonly server: FakeQmpServer;
  readonly process: ChildProcess;
  state: FakeQemuState;
  /** Set by a test: QEMU answers nothing (a frozen process). */
  frozen = false;
  #postcopyPath = false;

  private constructor(state: FakeQemuState, options: FakeQemuOptions) {
    this.state = { ...state };
    this.process = options.vcpuAsleepMs === undefined
      ? spawn('sleep', ['600'], { stdio: 'ignore' })
      : spawn(process.execPath, ['-e', `Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${options.vcpuAsleepMs})`], { stdio: 'ignore' });
    // QEMU's process ends with `quit`: so does the stand-in.
    // Commands a hung-up guard left behind are dropped, as QEMU drops them.
    this.server = new FakeQmpServer({ onQuit: () => this.process.kill('SIGKILL'), dropOnHangUp: true });
    const answer = <T>(value: () => T) => () => (this.frozen ? new Promise<T>(() => {}) : value());
    this.server
      .handle('query-status', answer(() => ({ status: this.state.runState, running: this.state.runState === 'running', singlestep: false })))
      .handle('query-migrate', answer(() => (this.state.migration === 'none' ? {} : { status: this.state.migration, ...(this.state.remaining !== undefined && { ram: { transferred: 1, remaining: this.state.remaining, total: 2 } }) })))
      // The pause before switchover goes on: here, straight to the end (the destination confirmed).
      .handle('migrate-continue', answer(() => {
        if (this.state.migration !== 'pre-switchover') throw new FakeQmpError('GenericError', `Expected migration state 'pre-switchover', was '${this.state.migration}'`);
        this.state = { runState: 'postmigrate', migration: 'completed' };
        return {};
      }))
      .handle('migrate_cancel', answer(() => {
        if (['setup', 'active', 'pre-switchover', 'wait-unplug'].includes(this.state.migration)) {
          this.state.migration = 'cancelled';
          this.state.runState = this.#postcopyPath ? 'postmigrate' : 'running';
        }
        return {};
      }))
      .handle('cont', answer(() => {
        this.state.runState = 'running';
        return {};
      }))
      .handle('migrate-start-postcopy', answer(() => {
        this.#postcopyPath = true;
        return {};
      }))
      // Post-copy recovery: the destination listens again, the source reconnects and carries on.
      .handle('migrate-recover', () => ({}))
      .handle('migrate', answer(() => {
        if (this.state.migration === 'postcopy-paused') this.state.migration = 'postcopy-active';
        return {};
      }))
      // The stand-in's main thread is the one vCPU.
      .handle('query-cpus-fast', answer(() => [{ 'cpu-index': 0, 'qom-path': '/machine/unattached/device[0]', 'thread-id': this.process.pid ?? 0, target: 'x86_64' }]))
      .handle('migrate-set-capabilities', answer(() => ({})))
      .handle('migrate-set-parameters', answer(() => ({})));
  }

  /** Starts one with its socket and pid file at `qmp` and `pidfile`. */
  static async start(qmp: string, pidfile: string, state: FakeQemuState, options: FakeQemuOptions = {}): Promise<FakeMigratingQemu> {
    const qemu = new FakeMigratingQemu(state, options);
    await qemu.server.listen(qmp);
    writeFileSync(pidfile, `${qemu.process.pid}\n`);
    return qemu;
  }

  /** The commands the guard (or anyone) sent, in order. */
  get commands(): string[] {
    return this.server.received.map((received) => received.execute).filter((name) => name !== 'qmp_capabilities');
  }

  get alive(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  async stop(): Promise<void> {
    this.process.kill('SIGKILL');
    await this.server.close();
  }
}
