import { Duplex } from 'node:stream';
import type { Host } from '../../model/host.ts';
import type { ProcessStream } from '../../transport/index.ts';
// Run with `perl -e`: perl (perl-base) is on every Debian and Ubuntu host; preflight checks it.
import { GUARD_SCRIPT } from './guard-script.ts';


/** How often ferry tells each guard it is alive, and how long a guard waits before it acts alone. */
export const HEARTBEAT_INTERVAL_MS = 500;
export const HEARTBEAT_TIMEOUT_MS = 3000;

/** What a guard is started with (see guard-script.ts). */
export interface GuardStart {
  role: 'src' | 'dst';
  qmp: string;
  pidfile: string;
  /** The source's migration lock (a directory the guard creates and removes). */
  lock?: string;
  /** The migration record, written into the lock. */
  record?: string;
  /** The destination's launch script: QEMU starts under the guard. */
  launch?: string;
  /** The destination's guard starts without its launch and waits for `sendLaunch()` (started early, beside the source's checks). */
  launchLater?: boolean;
  /** Files to remove when this side's QEMU is ended. */
  cleanup?: readonly string[];
  /** Files the launch creates (disk images for a copy): removed like `cleanup`, but only once the launch made them. */
  created?: readonly string[];
  /** A log on the host of what the guard did when ferry was gone. */
  log: string;
  label: string;
  /** How long without a heartbeat before the guard acts alone (tests shorten it). */
  heartbeatTimeoutMs?: number;
}

/** The guard's argv: `perl -e SCRIPT -- key=value ...`, quoted by the transport. */
export function guardArgv(start: GuardStart): string[] {
  const args = [`role=${start.role}`, `qmp=${start.qmp}`, `pidfile=${start.pidfile}`, `hb-ms=${start.heartbeatTimeoutMs ?? HEARTBEAT_TIMEOUT_MS}`, `log=${start.log}`, `label=${start.label}`];
  if (start.lock !== undefined) args.push(`lock=${start.lock}`);
  if (start.record !== undefined) args.push(`record=${start.record}`);
  if (start.launch !== undefined) args.push(`launch=${start.launch}`);
  if (start.launchLater) args.push('launch-later=1');
  for (const file of start.cleanup ?? []) args.push(`cleanup=${file}`);
  for (const file of start.created ?? []) args.push(`created=${file}`);
  return ['perl', '-e', GUARD_SCRIPT, '--', ...args];
}

/**
 * ferry's end of a guard: QMP lines pass through (`qmp`, a stream for
 * QmpClient), `#` lines are the guard's own words. While the channel is
 * open ferry sends a heartbeat; `finish()` tells the guard all is settled,
 * and only then does closing the channel leave the VM alone.
 */
export class GuardChannel {
  readonly host: string;
  readonly ended: Promise<number | null>;
  /** The QMP side, for QmpClient.connect(). Destroying it leaves the guard running. */
  readonly qmp: Duplex;
  readonly #process: ProcessStream;
  readonly #controls: string[] = [];
  #waiter: (() => void) | undefined;
  #buffer = '';
  #stderr = '';
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #resolved: string | undefined;
  #qemuGone = false;
  readonly #listeners = new Set<(line: string) => void>();

  private constructor(host: string, process: ProcessStream) {
    this.host = host;
    this.#process = process;
    this.ended = process.ended;
    const stdio = process.stdio;
    this.qmp = new Duplex({
      read() {},
      write(chunk: Buffer | string, _encoding, callback) {
        if (stdio.writable) stdio.write(chunk, () => callback());
        else callback();
      },
      final(callback) {
        callback();
      },
    });
    stdio.on('data', (chunk: Buffer) => this.#onData(chunk));
    stdio.on('error', () => this.#onClose());
    stdio.on('close', () => this.#onClose());
    stdio.on('end', () => this.#onClose());
    process.stderr.on('data', (chunk: Buffer) => (this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-4000)));
    void process.ended.then(() => this.#onClose());
  }

  /** Starts a guard on `host`; its first words say what it found. */
  static async start(host: Host, start: GuardStart, options: { signal?: AbortSignal } = {}): Promise<GuardChannel> {
    return GuardChannel.over(host.name, await host.transport.openProcess(guardArgv(start), options));
  }

  /** ferry's end of a guard already started (as `guardArgv(start)`) on `hostName`. */
  static over(hostName: string, process: ProcessStream): GuardChannel {
    return new GuardChannel(hostName, process);
  }

  /** The channel to the guard is gone (it exited, or the connection dropped). */
  get closed(): boolean {
    return this.#closed;
  }

  /** What the guard did on its own when it took ferry for lost (its `#resolved` line), if it did. */
  get resolved(): string | undefined {
    return this.#resolved;
  }

  /** The guard saw its QEMU close QMP (quit or died) before ferry let it go (`#qemu-gone`). */
  get qemuGone(): boolean {
    return this.#qemuGone;
  }

  /** What the guard wrote on stderr (a failed launch's message). */
  get stderr(): string {
    return this.#stderr;
  }

  /** The next `#` line, or undefined once the channel closed or `timeoutMs` passed. */
  async nextControl(timeoutMs = 30_000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.#controls.length === 0 && !this.#closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiter = undefined;
    }
    return this.#controls.shift();
  }

  /** Called with each `#` line that arrives once the start is over (gate-expired, resolved). */
  onControl(listener: (line: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Tells the guard something (`was-running 1`, `gate 300`, `restore {...}`). */
  send(control: string): void {
    if (this.#closed || !this.#process.stdio.writable) return;
    if (/[\n\r]/.test(control)) throw new Error(`ferry bug: a guard control line may not contain a newline: ${control}`);
    this.#process.stdio.write(`#${control}\n`);
  }

  /** For a guard started with `launchLater`: what to remove if its QEMU ends, then the launch itself. */
  sendLaunch(launch: string, cleanup: readonly string[], created: readonly string[] = []): void {
    for (const file of cleanup) this.send(`cleanup ${file}`);
    for (const file of created) this.send(`created ${file}`);
    this.send(`launch ${Buffer.from(launch, 'utf8').toString('hex')}`);
  }

  startHeartbeat(): void {
    if (this.#heartbeat) return;
    this.send('hb');
    this.#heartbeat = setInterval(() => this.send('hb'), HEARTBEAT_INTERVAL_MS);
  }

  /** Stops telling the guard ferry is alive (it then acts after its timeout, as when ferry freezes). */
  stopHeartbeat(): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  /** All is settled: the guard exits without acting when the channel closes. */
  async finish(): Promise<void> {
    this.send('done');
    await this.close();
  }

  /** Closes ferry's end and waits (up to `waitMs`) for the guard to exit. Without finish() first, the guard acts on QEMU's state. */
  async close(waitMs = 5000): Promise<void> {
    this.stopHeartbeat();
    if (!this.#closed) this.#process.stdio.end();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.ended, new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
  }

  #onData(chunk: Buffer): void {
    this.#buffer += chunk.toString('utf8');
    let newline: number;
    while ((newline = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, newline + 1);
      this.#buffer = this.#buffer.slice(newline + 1);
      if (line.startsWith('#')) {
        const control = line.slice(1).trimEnd();
        if (control.startsWith('resolved ')) this.#resolved = control.slice(9);
        if (control === 'qemu-gone') this.#qemuGone = true;
        if (this.#listeners.size > 0) for (const listener of this.#listeners) listener(control);
        else this.#controls.push(control);
        this.#waiter?.();
      } else {
        this.qmp.push(line);
      }
    }
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#waiter?.();
    this.qmp.push(null);
    this.qmp.destroy();
  }
}
