import type { Duplex } from 'node:stream';
import { throwIfAborted } from '../ferry-error.ts';
import { ConnectionStateMachine } from './connection-state.ts';
import type { QmpConnectionState } from './connection-state.ts';
import { withDeadline } from './deadline.ts';
import { describeFilter, EventListener } from './event-listener.ts';
import type { EventListenerOptions, QmpEventFilter } from './event-listener.ts';
import { classifyMessage, parseGreeting, QmpLineParser, serializeCommand } from './qmp-framing.ts';
import type { QmpJsonObject } from './qmp-framing.ts';
import { describeCommand, QmpDisconnectedError, QmpProtocolError, QmpTimeoutError } from './qmp-errors.ts';
import { PendingCommands } from './pending-commands.ts';
import type { QmpAnyEvent, QmpCommandMap, QmpEvent, QmpEventName, QmpGreeting } from './qmp-types.ts';

export interface QmpConnectOptions {
  signal?: AbortSignal | undefined;
  /** Greeting plus capabilities negotiation; default 10000. */
  timeoutMs?: number | undefined;
  /** Names the QEMU in every error message, e.g. "a/web" (host/vm). */
  label?: string | undefined;
  /** Passed to qmp_capabilities as `enable`, e.g. ['oob']. */
  enableCapabilities?: string[] | undefined;
  /** Longest line accepted from QEMU; default 16 MiB. */
  maxLineBytes?: number | undefined;
  /** Told about every protocol error, including the ones that are survived (a reply to an unknown id). */
  onProtocolError?: ((error: QmpProtocolError) => void) | undefined;
}

export interface QmpExecuteOptions {
  signal?: AbortSignal | undefined;
  /** Default 30000; `Infinity` waits forever. */
  timeoutMs?: number | undefined;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

/**
 * A QMP connection to one QEMU over any duplex stream: a UNIX socket, an SSH
 * stream-local channel, an in-memory pair. Behaves like QEMU's own
 * python/qemu/qmp QMPClient: explicit states, many commands in flight
 * correlated by id, a filtered queue per event listener, and on disconnect
 * every waiting caller fails once with a QmpDisconnectedError.
 *
 * Protocol faults: a reply to an unknown id is dropped and reported to
 * `onProtocolError` (the QMP spec says clients should drop them). Malformed
 * JSON, an oversized line, or an error reply without an id (QEMU could not
 * parse what we sent, so we cannot tell whose it is) are reported, then the
 * connection is closed, as qmp_client.py does.
 *
 * @example
 * const client = await QmpClient.connect(net.connect('/run/qemu/web.qmp'), { label: 'a/web' });
 * const { status } = await client.execute('query-status');
 * await client.close();
 */
export class QmpClient {
  /** Resolves once the connection is gone, whatever the reason; never rejects. */
  readonly closed: Promise<void>;
  readonly #stream: Duplex;
  readonly #label: string | undefined;
  readonly #state: ConnectionStateMachine;
  readonly #parser: QmpLineParser;
  readonly #onProtocolError: ((error: QmpProtocolError) => void) | undefined;
  readonly #pending: PendingCommands;
  readonly #listeners = new Set<EventListener<QmpAnyEvent>>();
  #greeting: QmpGreeting | undefined;
  #greetingWaiter: { resolve: (message: QmpJsonObject) => void; reject: (error: Error) => void } | undefined;
  #closeReason: string | undefined;
  #resolveClosed: () => void = () => {};

  private constructor(stream: Duplex, options: QmpConnectOptions) {
    this.#stream = stream;
    this.#label = options.label;
    this.#state = new ConnectionStateMachine(options.label);
    this.#parser = new QmpLineParser({ maxLineBytes: options.maxLineBytes, label: options.label });
    this.#onProtocolError = options.onProtocolError;
    this.#pending = new PendingCommands(options.label);
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  /**
   * Reads the greeting, negotiates capabilities and returns a running client.
   * On any failure the stream is destroyed.
   *
   * @example
   * const client = await QmpClient.connect(socket, { label: 'a/web', timeoutMs: 5000 });
   * client.greeting.QMP.version.qemu // { major: 7, minor: 2, micro: 0 }
   */
  static async connect(stream: Duplex, options: QmpConnectOptions = {}): Promise<QmpClient> {
    throwIfAborted(options.signal);
    const client = new QmpClient(stream, options);
    await client.#handshake(options);
    return client;
  }

  /** QEMU's greeting: its version and QMP capabilities. */
  get greeting(): QmpGreeting {
    if (this.#greeting === undefined) throw new Error('bug: greeting read before connect() finished');
    return this.#greeting;
  }

  get state(): QmpConnectionState {
    return this.#state.current;
  }

  /** Why the connection ended, once it has. */
  get closeReason(): string | undefined {
    return this.#closeReason;
  }

  /**
   * Runs a typed QMP command and returns its `return` member.
   * Rejects with QmpCommandError (QEMU said no), QmpTimeoutError,
   * AbortedError, QmpDisconnectedError or QmpStateError. A timeout or abort
   * stops the waiting, not the command: QMP cannot cancel one.
   *
   * @example
   * await client.execute('migrate-set-parameters', { 'downtime-limit': 300 });
   * const info = await client.execute('query-migrate', undefined, { timeoutMs: 5000 });
   */
  execute<K extends keyof QmpCommandMap>(
    command: K,
    args?: QmpCommandMap[K]['args'],
    options?: QmpExecuteOptions,
  ): Promise<QmpCommandMap[K]['returns']> {
    const wireArgs = args as Record<string, unknown> | undefined; // every map entry is a JSON object
    return this.#executeGuarded('execute', command, wireArgs, options) as Promise<QmpCommandMap[K]['returns']>;
  }

  /**
   * Runs any command, untyped: for ones QmpCommandMap does not list.
   *
   * @example
   * await client.executeUnchecked('x-exit-preconfig');
   */
  executeUnchecked(command: string, args?: Record<string, unknown>, options?: QmpExecuteOptions): Promise<unknown> {
    return this.#executeGuarded('executeUnchecked', command, args, options);
  }

  /**
   * Runs an out-of-band command (`exec-oob`): QEMU runs it at once, even while
   * its main loop is blocked, as a post-copy destination's is while it waits for
   * pages. Only commands QEMU marks OOB-capable (7.2: migrate-recover,
   * migrate-pause, yank, query-yank), on a connection negotiated with `oob`.
   *
   * @example
   * await client.executeOob('migrate-recover', { uri: 'tcp:10.0.0.2:4444' });
   */
  executeOob(command: 'migrate-recover' | 'migrate-pause' | 'yank' | 'query-yank', args?: Record<string, unknown>, options?: QmpExecuteOptions): Promise<unknown> {
    this.#state.require('executeOob', 'running');
    throwIfAborted(options?.signal);
    return this.#send(command, args, options, true);
  }

  /**
   * A listener with its own queue, taking the events that match `filter`.
   *
   * @example
   * const passes = client.events('MIGRATION_PASS');
   * for await (const event of passes) console.log(event.data.pass);
   */
  events<K extends QmpEventName>(filter: K | readonly K[], options?: EventListenerOptions): EventListener<QmpEvent<K>>;
  events(filter?: QmpEventFilter, options?: EventListenerOptions): EventListener<QmpAnyEvent>;
  events(filter?: QmpEventFilter, options?: EventListenerOptions): EventListener<QmpAnyEvent> {
    this.#state.require('events', 'running');
    const listener: EventListener<QmpAnyEvent> = new EventListener(filter, options, () => this.#listeners.delete(listener));
    if (!listener.closed) this.#listeners.add(listener);
    return listener;
  }

  /**
   * The first matching event from now on. Subscribe before acting:
   * start the wait, then run the command that causes the event.
   *
   * @example
   * const stopped = client.waitForEvent('STOP', { timeoutMs: 5000 });
   * await client.execute('stop');
   * await stopped;
   */
  waitForEvent<K extends QmpEventName>(filter: K | readonly K[], options?: QmpExecuteOptions): Promise<QmpEvent<K>>;
  waitForEvent(filter: QmpEventFilter, options?: QmpExecuteOptions): Promise<QmpAnyEvent>;
  async waitForEvent(filter: QmpEventFilter, options: QmpExecuteOptions = {}): Promise<unknown> {
    const listener = this.events(filter, { maxQueue: 1 });
    const waitingFor = describeFilter(filter);
    try {
      const result = await withDeadline(listener.next(), {
        ...options,
        waitingFor,
        label: this.#label,
        onTimeout: () => new QmpTimeoutError({ command: undefined, waitingFor, timeoutMs: options.timeoutMs ?? 0, label: this.#label }),
      });
      if (result.done !== true) return result.value;
      throw new QmpDisconnectedError({ command: undefined, waitingFor, reason: this.#closeReason ?? 'closed', label: this.#label });
    } finally {
      listener.close();
    }
  }

  /**
   * Ends the connection: pending commands fail with QmpDisconnectedError
   * (a pending `quit` succeeds), listeners close, the stream is destroyed.
   * Idempotent; resolves with `closed`, when the stream emits 'close'.
   *
   * @example
   * await client.close();
   */
  close(): Promise<void> {
    this.#teardown('closed by the client');
    return this.closed;
  }

  async #handshake(options: QmpConnectOptions): Promise<void> {
    this.#state.transition('connecting');
    this.#attach();
    const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    let phase: 'greeting' | 'capabilities' = 'greeting';
    const greeting = new Promise<QmpJsonObject>((resolve, reject) => (this.#greetingWaiter = { resolve, reject }));
    const negotiate = async (): Promise<void> => {
      this.#greeting = parseGreeting(await greeting, this.#label);
      phase = 'capabilities';
      const enable = options.enableCapabilities;
      await this.#send('qmp_capabilities', enable === undefined ? undefined : { enable });
    };
    try {
      await withDeadline(negotiate(), {
        signal: options.signal,
        timeoutMs,
        label: this.#label,
        waitingFor: 'the QMP greeting and capabilities negotiation',
        onTimeout: () =>
          phase === 'greeting'
            ? new QmpTimeoutError({
                command: undefined,
                waitingFor: 'QMP greeting',
                timeoutMs,
                hint: 'is another client connected to this socket?',
                label: this.#label,
              })
            : new QmpTimeoutError({ command: 'qmp_capabilities', timeoutMs, label: this.#label }),
      });
    } catch (error) {
      this.#teardown(`connect failed: ${error instanceof Error ? error.message : String(error)}`, error);
      throw error;
    }
    // The stream may have failed between the capabilities reply and now.
    if (this.#state.isEnding) {
      const reason = this.#closeReason ?? 'closed';
      throw new QmpDisconnectedError({ command: undefined, waitingFor: 'the end of the QMP handshake', reason, label: this.#label });
    }
    this.#state.transition('running');
  }

  async #executeGuarded(
    method: string,
    command: string,
    args: Record<string, unknown> | undefined,
    options: QmpExecuteOptions = {},
  ): Promise<unknown> {
    this.#state.require(method, 'running');
    throwIfAborted(options.signal); // aborted before: nothing is sent
    return this.#send(command, args, options);
  }

  // Sends without the state guard (qmp_capabilities runs while connecting).
  async #send(command: string, args: Record<string, unknown> | undefined, options: QmpExecuteOptions = {}, oob = false): Promise<unknown> {
    // Registered before writing: an in-memory peer may answer synchronously.
    const { id, reply } = this.#pending.add(command, args);
    const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.#stream.write(serializeCommand({ execute: command, arguments: args, id, oob }));
    try {
      return await withDeadline(reply, {
        signal: options.signal,
        timeoutMs,
        label: this.#label,
        waitingFor: `the reply to ${describeCommand(command, args)}`,
        onTimeout: () => new QmpTimeoutError({ command, arguments: args, timeoutMs, label: this.#label }),
      });
    } catch (error) {
      this.#pending.abandon(id);
      throw error;
    }
  }

  #attach(): void {
    this.#stream.on('data', this.#onData);
    this.#stream.on('end', this.#onEnd);
    this.#stream.on('close', this.#onClose);
    this.#stream.on('error', this.#onError);
  }

  #detach(): void {
    this.#stream.off('data', this.#onData);
    this.#stream.off('end', this.#onEnd);
    this.#stream.off('close', this.#onClose);
    this.#stream.off('error', this.#onError);
    // A stream we have given up on may still report errors; they must not crash the process.
    this.#stream.on('error', ignore);
  }

  readonly #onEnd = (): void => this.#teardown('QEMU closed the connection');
  readonly #onClose = (): void => this.#teardown('the stream was closed');
  readonly #onError = (error: Error): void => this.#teardown(`stream error: ${error.message}`, error);

  readonly #onData = (chunk: Buffer | string): void => {
    try {
      for (const message of this.#parser.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)) {
        this.#route(message);
        if (this.#state.isEnding) return;
      }
    } catch (error) {
      if (error instanceof QmpProtocolError) this.#fatal(error);
      else throw error;
    }
  };

  #route(message: QmpJsonObject): void {
    const waiter = this.#greetingWaiter;
    if (waiter) {
      this.#greetingWaiter = undefined;
      waiter.resolve(message);
      return;
    }
    const incoming = classifyMessage(message);
    if (incoming.kind === 'event') {
      for (const listener of this.#listeners) listener.deliver(incoming.event);
      return;
    }
    if (incoming.kind === 'greeting') {
      this.#report(new QmpProtocolError({ problem: 'unexpected second greeting, dropped', received: message, label: this.#label }));
      return;
    }
    // A late reply to a timed-out or aborted command is dropped quietly.
    if (this.#pending.settle(incoming, message) !== 'unknown') return;
    if (incoming.kind === 'error' && incoming.id === undefined) {
      const problem = 'error reply without an id (QEMU could not parse a command), closing';
      this.#fatal(new QmpProtocolError({ problem, received: message, label: this.#label }));
      return;
    }
    const problem = incoming.kind === 'malformed-reply' ? incoming.problem : `reply to unknown id ${String(incoming.id)}`;
    this.#report(new QmpProtocolError({ problem: `${problem}, dropped`, received: message, label: this.#label }));
  }

  #report(error: QmpProtocolError): void {
    try {
      this.#onProtocolError?.(error);
    } catch {
      // A throwing hook must not take the connection down with it.
    }
  }

  #fatal(error: QmpProtocolError): void {
    this.#report(error);
    this.#teardown(error.message, error);
  }

  // Synchronous so that no message is routed after the decision to close.
  #teardown(reason: string, cause?: unknown): void {
    if (this.#state.isEnding) return;
    this.#state.transition('disconnecting');
    this.#closeReason = reason;
    this.#detach();
    const label = this.#label;
    this.#greetingWaiter?.reject(new QmpDisconnectedError({ command: undefined, waitingFor: 'the QMP greeting', reason, label, cause }));
    this.#greetingWaiter = undefined;
    this.#pending.failAll(reason, cause);
    for (const listener of [...this.#listeners]) listener.close();
    this.#listeners.clear();
    const finish = (): void => {
      this.#state.transition('closed');
      this.#resolveClosed();
    };
    if (this.#stream.closed) finish();
    else {
      this.#stream.once('close', finish);
      this.#stream.destroy();
    }
  }
}

function ignore(): void {}
