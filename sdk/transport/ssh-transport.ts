import { setMaxListeners } from 'node:events';
import type { Duplex } from 'node:stream';
// @ts-types="npm:@types/ssh2@^1.15.5"
import type { Client, ClientChannel } from 'ssh2';
import { throwIfAborted } from '../ferry-error.ts';
import { raceAbort, type AbortRace } from './abort-race.ts';
import { awaitCommand, type CommandSpec } from './command-run.ts';
import type { CommandResult, ExecOptions, HostTransport, ProcessStream } from './host-transport.ts';
import { quote, quoteArgv } from './posix-quote.ts';
import { killCommand, neverOpened, recordExit, refusedForLimit, RemoteProcess, withPidReport, type ExitRecord } from './ssh-channel.ts';
import { connectSsh, type SshConnection } from './ssh-connection.ts';
import { resolveSshSettings, type SshEnvironment, type SshSettings, type SshTransportOptions } from './ssh-settings.ts';
import { SessionLimit } from './session-limit.ts';
import { ChannelOpenError, CommandTimeoutError, SshConnectionLostError, TransportClosedError, TransportError } from './transport-errors.ts';

type OpenCallback = (err: Error | undefined, channel: ClientChannel) => void;
type Opener = (client: Client, cb: OpenCallback) => void;
/** The connection in use or being made; `connection` is set once it is up. */
interface Pending {
  promise: Promise<SshConnection>;
  connection?: SshConnection;
}

/**
 * A host reached over SSH: one ssh2 connection shared by all work on the host,
 * opened on first use and opened again on the next use after it drops.
 * Commands run through the remote user's login shell, which must be POSIX
 * (sh, bash, dash, zsh); argv words are single-quoted for it.
 *
 * @example
 * const host = new SshTransport({ target: 'root@10.0.0.1' });
 * const { stdout } = await host.exec(['virsh', 'list', '--name']);
 * await host.close();
 */
export class SshTransport implements HostTransport {
  readonly kind = 'ssh';
  readonly label: string;
  /** The resolved settings, or undefined when the target or config could not be read (the first call says why). */
  readonly settings: SshSettings | undefined;
  readonly #settingsError: Error | undefined;
  readonly #closing = new AbortController();
  readonly #sessions: SessionLimit;
  #current: Pending | undefined;
  readonly #kills = new Set<Promise<void>>();

  constructor(options: SshTransportOptions, environment?: SshEnvironment) {
    try {
      this.settings = resolveSshSettings(options, environment);
    } catch (error) {
      this.#settingsError = error as Error;
    }
    this.label = this.settings?.label ?? options.target;
    setMaxListeners(0, this.#closing.signal); // every waiting command listens for close()
    this.#sessions = new SessionLimit(this.settings?.maxSessions ?? 1);
  }

  exec(argv: readonly string[], options: ExecOptions = {}): Promise<CommandResult> {
    if (argv.length === 0) return Promise.reject(new TypeError('exec needs at least one argument (the program)'));
    return this.#command({ host: this.label, argv }, () => quoteArgv(argv), options);
  }

  shell(script: string, options: ExecOptions = {}): Promise<CommandResult> {
    return this.#command({ host: this.label, script }, () => `exec /bin/sh -c ${quote(script)}`, options);
  }

  async openUnixSocket(path: string, options: { signal?: AbortSignal } = {}): Promise<Duplex> {
    const stops = this.#stops(options.signal);
    return this.#openStream(path, stops, (client, cb) => client.openssh_forwardOutStreamLocal(path, cb));
  }

  async openTcp(host: string, port: number, options: { signal?: AbortSignal } = {}): Promise<Duplex> {
    const stops = this.#stops(options.signal);
    return this.#openStream(`${host}:${port}`, stops, (client, cb) => client.forwardOut('127.0.0.1', 0, host, port, cb));
  }

  async openProcess(argv: readonly string[], options: { signal?: AbortSignal } = {}): Promise<ProcessStream> {
    if (argv.length === 0) throw new TypeError('openProcess needs at least one argument (the program)');
    const stops = this.#stops(options.signal);
    // No pid report and no kill on abort: the process must outlive this controller.
    const { channel, record, connection, release } = await this.#openSession(`exec ${quoteArgv(argv)}`, stops).catch((error: unknown) => {
      throw this.#openError(error, `process ${argv[0] ?? ''}`);
    });
    dropWithConnection(channel, connection, this.label, `process ${argv[0] ?? ''}`);
    const ended = new Promise<number | null>((resolve) => channel.once('close', () => resolve(record.exit?.code ?? null)));
    void ended.then(release);
    return { stdio: channel, stderr: channel.stderr, ended };
  }

  /** End the connection. Commands still running are killed on the host and reject with TransportClosedError. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort(new TransportClosedError(this.label));
    const current = this.#current;
    this.#current = undefined;
    const connection = await current?.promise.catch(() => undefined);
    await new Promise((resolve) => setImmediate(resolve)); // let aborted commands start their kills
    await Promise.all(this.#kills);
    if (!connection || connection.closed.aborted) return;
    const closed = new Promise<void>((resolve) => connection.closed.addEventListener('abort', () => resolve(), { once: true }));
    connection.client.end();
    const timer = setTimeout(() => connection.client.destroy(), 2000);
    await closed;
    clearTimeout(timer);
  }

  async #command(spec: CommandSpec, build: () => string, options: ExecOptions): Promise<CommandResult> {
    const command = build(); // throws on a NUL byte before anything starts
    const timeout = new AbortController();
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => timeout.abort(), options.timeoutMs);
    const startedAt = Date.now();
    const stops: AbortRace[] = [
      ...this.#stops(options.signal),
      { signal: timeout.signal, error: () => new CommandTimeoutError(spec, options.timeoutMs ?? 0) },
    ];
    try {
      const { line, tag } = withPidReport(command);
      const { channel, record, connection, release } = await this.#openSession(line, stops);
      const what = `\`${shorten(spec.argv ? command : (spec.script ?? ''))}\``;
      const killer = (pid: number): Promise<void> => this.#killRemote(connection, pid);
      const remote = new RemoteProcess(channel, record, connection, { label: this.label, what, tag, stdin: options.stdin, killer });
      remote.ended.then(release, release);
      const remaining = options.timeoutMs === undefined ? undefined : Math.max(1, options.timeoutMs - (Date.now() - startedAt));
      clearTimeout(timer);
      return await awaitCommand(spec, { ...options, timeoutMs: remaining }, remote.ended, () => remote.kill(), this.#closing.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Kill a remote process group from a second exec channel on the same connection.
   * It bypasses the session queue (a brief extra session) so that an abort never waits
   * behind the commands it is cancelling; `close()` waits for these.
   */
  #killRemote(connection: SshConnection, pid: number): Promise<void> {
    const done = new Promise<void>((resolve) => {
      if (connection.closed.aborted) return resolve();
      try {
        connection.client.exec(killCommand(pid), (err, channel) => {
          if (err) return resolve();
          channel.once('close', () => resolve()).resume();
          channel.stderr.resume();
          channel.end();
        });
      } catch {
        resolve();
      }
    });
    this.#kills.add(done);
    void done.then(() => this.#kills.delete(done));
    return done;
  }

  /** A session slot and an exec channel running `command`; waits for a slot when sshd's MaxSessions is reached. */
  async #openSession(command: string, stops: readonly AbortRace[]): Promise<{ channel: ClientChannel; record: ExitRecord; connection: SshConnection; release: () => void }> {
    const records = new WeakMap<ClientChannel, ExitRecord>();
    const open: Opener = (client, cb) => client.exec(command, (err, channel) => {
      if (!err) records.set(channel, recordExit(channel));
      cb(err, channel);
    });
    for (let attempt = 0; ; attempt++) {
      const release = await this.#sessions.acquire(stops);
      try {
        const { channel, connection } = await this.#openChannel(stops, open);
        return { channel, record: records.get(channel) ?? recordExit(channel), connection, release };
      } catch (error) {
        release();
        if (!refusedForLimit(error) || this.#sessions.active === 0 || attempt >= 10) throw this.#openError(error, 'a command session');
        this.#sessions.shrink(); // sshd allows fewer sessions than we thought: wait for one to end
      }
    }
  }

  async #openStream(target: string, stops: readonly AbortRace[], open: Opener): Promise<Duplex> {
    try {
      const { channel, connection } = await this.#openChannel(stops, open);
      dropWithConnection(channel, connection, this.label, target);
      return channel;
    } catch (error) {
      throw this.#openError(error, target);
    }
  }

  /**
   * Open a channel on the shared connection, connecting first if needed. When the
   * connection turns out to be gone before the channel opened (so nothing ran),
   * it connects again once and retries.
   */
  async #openChannel(stops: readonly AbortRace[], open: Opener): Promise<{ channel: ClientChannel; connection: SshConnection }> {
    for (let attempt = 0; ; attempt++) {
      const connection = await raceAbort(this.#connection(), stops);
      const opening = new Promise<ClientChannel>((resolve, reject) => {
        try {
          open(connection.client, (err, channel) => (err ? reject(err) : resolve(channel)));
        } catch (error) {
          reject(error);
        }
      });
      try {
        // A channel that opens after the caller gave up is closed unused (for exec, the
        // command may have just started: it runs to its end, like `ssh host cmd &` would).
        const channel = await raceAbort(opening, stops, (late) => late.close());
        return { channel, connection };
      } catch (error) {
        if (!neverOpened(error) || attempt >= 1) throw error;
        this.#forget(connection);
      }
    }
  }

  #connection(): Promise<SshConnection> {
    if (this.#closing.signal.aborted) return Promise.reject(new TransportClosedError(this.label));
    if (!this.settings) return Promise.reject(this.#settingsError);
    if (this.#current) return this.#current.promise;
    const current: Pending = { promise: connectSsh(this.settings) };
    const forget = (): void => {
      if (this.#current === current) this.#current = undefined;
    };
    current.promise.then((connection) => {
      current.connection = connection;
      connection.closed.addEventListener('abort', forget, { once: true });
      if (this.#closing.signal.aborted) connection.client.end();
    }, forget);
    this.#current = current;
    return current.promise;
  }

  /** This connection is dead though ssh2 has not noticed yet: drop it now so that the retry connects again. */
  #forget(connection: SshConnection): void {
    if (this.#current?.connection === connection) this.#current = undefined;
    connection.client.destroy();
  }

  #stops(signal: AbortSignal | undefined): AbortRace[] {
    throwIfAborted(signal);
    if (this.#closing.signal.aborted) throw new TransportClosedError(this.label);
    return [{ signal }, { signal: this.#closing.signal, error: () => new TransportClosedError(this.label) }];
  }

  #openError(error: unknown, target: string): Error {
    if (error instanceof TransportError || !(error instanceof Error)) return error as Error;
    if (neverOpened(error)) return new SshConnectionLostError(this.label, `before ${target} could be opened`, { cause: error });
    if (/Unable to exec/.test(error.message)) return new SshConnectionLostError(this.label, 'while a command was starting; it may or may not have run', { cause: error });
    const hint = target.startsWith('/') ? ` (does ${quote(target)} exist there, and may ${this.settings?.user ?? 'the user'} open it?)` : '';
    return new ChannelOpenError(this.label, target, `${error.message}${hint}`, { cause: error });
  }
}

/**
 * A stream open when its connection drops emits SshConnectionLostError as 'error'
 * when someone listens for errors (otherwise it just ends, rather than crash the process).
 */
function dropWithConnection(channel: ClientChannel, connection: SshConnection, label: string, target: string): void {
  const onDrop = (): void => {
    // ssh2's Channel.destroy() takes no error, so the error is emitted directly.
    if (channel.listenerCount('error') > 0) channel.emit('error', new SshConnectionLostError(label, `while the stream to ${target} was open`, { cause: connection.closed.reason }));
  };
  connection.closed.addEventListener('abort', onDrop, { once: true });
  channel.once('close', () => connection.closed.removeEventListener('abort', onDrop));
}

function shorten(text: string): string {
  const line = text.replace(/\s*\n\s*/g, '; ');
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}
