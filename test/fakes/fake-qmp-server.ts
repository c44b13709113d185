import { once } from 'node:events';
import net from 'node:net';
import { Duplex } from 'node:stream';

// FakeQmpServer: an in-process stand-in for QEMU's QMP monitor, for unit
// tests and scale simulations. It is a fake, not an emulator: it speaks the
// wire protocol (greeting, capabilities negotiation, id echo, "\r\n" line
// endings, events) and answers from scripted handlers. Like QEMU, a UNIX
// socket serves one client at a time; later clients wait without a greeting.

/** A scripted command handler; return the `return` value, or throw a FakeQmpError / `{ class, desc }`. */
export type FakeQmpHandler = (args: Record<string, unknown>, context: FakeQmpCommandContext) => unknown;

export interface FakeQmpCommandContext {
  session: FakeQmpSession;
  id: unknown;
}

/** Thrown by a handler to answer `{"error": {"class", "desc"}}`. */
export class FakeQmpError extends Error {
  constructor(
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(desc);
  }
}

export interface FakeQmpServerOptions {
  version?: { major: number; minor: number; micro: number; package?: string };
  capabilities?: string[];
  /** A raw first line instead of the greeting (e.g. garbage), or `false` to send none. */
  greeting?: string | false;
  /** How `quit` ends: QEMU usually replies then closes, but may close first. */
  quit?: 'reply-then-close' | 'close-without-reply';
  /** Called when a client sends `quit` (a fake with a process ends it here). */
  onQuit?: () => void;
  /**
   * As QEMU does: a command is run a moment after it arrives (from the main
   * loop), and one not yet run when its client hangs up is dropped
   * (monitor_qmp_cleanup_queues on CHR_EVENT_CLOSED). A client that writes a
   * command and exits has not had it run.
   */
  dropOnHangUp?: boolean;
}

/** How long the fake's `dropOnHangUp` waits before it runs a command. */
const DISPATCH_DELAY_MS = 2;

export interface FakeQmpReceived {
  execute: string;
  arguments: Record<string, unknown>;
  id: unknown;
}

/**
 * @example
 * const server = new FakeQmpServer().handle('query-status', () => ({ status: 'running', running: true, singlestep: false }));
 * const client = await QmpClient.connect(server.connectPair());
 */
export class FakeQmpServer {
  readonly options: FakeQmpServerOptions;
  /** Every command received, by every session, in order. */
  readonly received: FakeQmpReceived[] = [];
  /** Sessions currently connected (for a UNIX socket: at most one is served). */
  readonly sessions = new Set<FakeQmpSession>();
  readonly #handlers = new Map<string, FakeQmpHandler>();
  readonly #waiting: net.Socket[] = [];
  #server: net.Server | undefined;
  running = true;

  constructor(options: FakeQmpServerOptions = {}) {
    this.options = options;
    this.handle('query-version', () => this.#version());
    this.handle('query-status', () => ({ status: this.running ? 'running' : 'paused', running: this.running, singlestep: false }));
    this.handle('query-commands', () => [...this.#handlers.keys(), 'qmp_capabilities'].map((name) => ({ name })));
    this.handle('stop', (_args, { session }) => {
      this.running = false;
      queueMicrotask(() => session.emitEvent('STOP'));
      return {};
    });
    this.handle('cont', (_args, { session }) => {
      this.running = true;
      queueMicrotask(() => session.emitEvent('RESUME'));
      return {};
    });
  }

  /** Scripts `command`; a later call replaces an earlier one. */
  handle(command: string, handler: FakeQmpHandler): this {
    this.#handlers.set(command, handler);
    return this;
  }

  /** The newest session. */
  get session(): FakeQmpSession {
    const last = [...this.sessions].at(-1);
    if (!last) throw new Error('FakeQmpServer: no session connected');
    return last;
  }

  /** Serves one client over `stream` (one end of a duplex pair, or an accepted socket). */
  attach(stream: Duplex): FakeQmpSession {
    const session = new FakeQmpSession(this, stream);
    this.sessions.add(session);
    void session.closed.then(() => {
      this.sessions.delete(session);
      this.#serveNextWaiting();
    });
    return session;
  }

  /** An in-memory connection: attaches one end, returns the other for the client. */
  connectPair(): Duplex {
    const [client, server] = createDuplexPair();
    this.attach(server);
    return client;
  }

  /** Listens on a real UNIX socket, one client served at a time as QEMU does. */
  async listen(path: string): Promise<void> {
    const server = net.createServer((socket) => {
      if (this.sessions.size === 0) return void this.attach(socket);
      // Waits unserved, as a second QEMU client does; forgotten if it hangs up first.
      this.#waiting.push(socket);
      const forget = (): void => {
        const index = this.#waiting.indexOf(socket);
        if (index !== -1) this.#waiting.splice(index, 1);
        socket.destroy();
      };
      socket.once('end', forget).once('error', forget).once('close', forget);
      socket.resume(); // to notice the hang-up; a waiting QMP client sends nothing
    });
    this.#server = server;
    server.listen(path);
    await once(server, 'listening');
  }

  /** Sends an event to every negotiated session. */
  emitEvent(name: string, data?: Record<string, unknown>): void {
    for (const session of this.sessions) session.emitEvent(name, data);
  }

  /** Drops every session and stops listening. */
  async close(): Promise<void> {
    for (const socket of this.#waiting.splice(0)) socket.destroy();
    const closing = [...this.sessions].map((session) => {
      session.drop();
      return session.closed;
    });
    await Promise.all(closing);
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** @internal runs a command for a session. */
  async run(command: string, args: Record<string, unknown>, context: FakeQmpCommandContext): Promise<unknown> {
    this.received.push({ execute: command, arguments: args, id: context.id });
    const handler = this.#handlers.get(command);
    if (!handler) throw new FakeQmpError('CommandNotFound', `The command ${command} has not been found`);
    return await handler(args, context);
  }

  greetingLine(): string | false {
    if (this.options.greeting !== undefined) return this.options.greeting;
    const capabilities = this.options.capabilities ?? ['oob'];
    return JSON.stringify({ QMP: { version: this.#version(), capabilities } });
  }

  #version(): { qemu: { major: number; minor: number; micro: number }; package: string } {
    const { major = 7, minor = 2, micro = 0, package: pkg = 'Debian 1:7.2+dfsg-7+deb12u6' } = this.options.version ?? {};
    return { qemu: { major, minor, micro }, package: pkg };
  }

  #serveNextWaiting(): void {
    const next = this.#waiting.shift();
    if (!next || next.destroyed) return;
    next.removeAllListeners('end').removeAllListeners('error').removeAllListeners('close');
    this.attach(next);
  }
}

/** One client connection to the fake. */
export class FakeQmpSession {
  readonly closed: Promise<void>;
  negotiated = false;
  readonly #server: FakeQmpServer;
  readonly #stream: Duplex;
  #buffer = '';
  #hungUp = false;

  constructor(server: FakeQmpServer, stream: Duplex) {
    this.#server = server;
    this.#stream = stream;
    this.closed = new Promise((resolve) => stream.once('close', () => resolve()));
    stream.on('error', () => {}); // a client vanishing is normal here
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('close', () => (this.#hungUp = true));
    stream.on('end', () => {
      this.#hungUp = true;
      stream.destroy();
    });
    const greeting = server.greetingLine();
    if (greeting !== false) this.sendRaw(`${greeting}\r\n`);
  }

  /** Writes anything, e.g. garbage or a reply with a made-up id. */
  sendRaw(text: string | Buffer): void {
    if (!this.#stream.destroyed && this.#stream.writable) this.#stream.write(text);
  }

  send(message: Record<string, unknown>): void {
    this.sendRaw(`${JSON.stringify(message)}\r\n`);
  }

  /** Sends an event, as QEMU does, only once capabilities are negotiated. */
  emitEvent(name: string, data?: Record<string, unknown>): void {
    if (!this.negotiated) return;
    const now = Date.now();
    const timestamp = { seconds: Math.floor(now / 1000), microseconds: (now % 1000) * 1000 };
    this.send(data === undefined ? { event: name, timestamp } : { event: name, data, timestamp });
  }

  /** Closes the connection abruptly. */
  drop(): void {
    this.#stream.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#buffer += chunk.toString('utf8');
    let newline: number;
    while ((newline = this.#buffer.indexOf('\n')) !== -1) {
      const line = this.#buffer.slice(0, newline).trim();
      this.#buffer = this.#buffer.slice(newline + 1);
      if (line !== '') void this.#onLine(line);
    }
  }

  async #onLine(line: string): Promise<void> {
    let message: { execute?: unknown; 'exec-oob'?: unknown; arguments?: Record<string, unknown>; id?: unknown };
    try {
      message = JSON.parse(line) as typeof message;
    } catch {
      // QEMU cannot tell which command this was, so the error has no id.
      this.send({ error: { class: 'GenericError', desc: 'JSON parse error' } });
      return;
    }
    const { id } = message;
    const withId = (reply: Record<string, unknown>): Record<string, unknown> => (id === undefined ? reply : { ...reply, id });
    // An out-of-band command runs like any other here (QEMU would run it at once).
    const command = typeof message.execute === 'string' ? message.execute : typeof message['exec-oob'] === 'string' ? message['exec-oob'] : '';
    const args = message.arguments ?? {};
    if (command === 'qmp_capabilities') {
      this.#server.received.push({ execute: command, arguments: args, id });
      if (this.negotiated) {
        const desc = 'Capabilities negotiation is already complete, command ignored';
        this.send(withId({ error: { class: 'CommandNotFound', desc } }));
        return;
      }
      const offered = this.#server.options.capabilities ?? ['oob'];
      const unknown = (Array.isArray(args['enable']) ? args['enable'] : []).find((c: unknown) => !offered.includes(String(c)));
      if (unknown !== undefined) {
        const desc = `Parameter 'enable' does not accept value '${String(unknown)}'`;
        this.send(withId({ error: { class: 'GenericError', desc } }));
        return;
      }
      this.negotiated = true;
      this.send(withId({ return: {} }));
      return;
    }
    if (!this.negotiated) {
      const desc = "Expecting capabilities negotiation with 'qmp_capabilities'";
      this.send(withId({ error: { class: 'CommandNotFound', desc } }));
      return;
    }
    if (command === 'quit') return this.#quit(args, id, withId);
    if (this.#server.options.dropOnHangUp && message['exec-oob'] === undefined) {
      await new Promise((resolve) => setTimeout(resolve, DISPATCH_DELAY_MS));
      if (this.#hungUp) return;
    }
    try {
      const value = await this.#server.run(command, args, { session: this, id });
      this.send(withId({ return: value ?? {} }));
    } catch (error) {
      this.send(withId({ error: toQmpError(error) }));
    }
  }

  #quit(args: Record<string, unknown>, id: unknown, withId: (reply: Record<string, unknown>) => Record<string, unknown>): void {
    this.#server.received.push({ execute: 'quit', arguments: args, id });
    this.#server.options.onQuit?.();
    if (this.#server.options.quit !== 'close-without-reply') {
      this.send(withId({ return: {} }));
      this.emitEvent('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' });
    }
    this.#stream.end();
  }
}

function toQmpError(error: unknown): { class: string; desc: string } {
  if (error instanceof FakeQmpError) return { class: error.errorClass, desc: error.desc };
  if (typeof error === 'object' && error !== null && 'class' in error && 'desc' in error) {
    return { class: String(error.class), desc: String(error.desc) };
  }
  return { class: 'GenericError', desc: error instanceof Error ? error.message : String(error) };
}

/**
 * Two connected in-memory duplex streams, like a socketpair: what one end
 * writes the other reads; ending or destroying one ends the other's input.
 * (Node 20 lacks stream.duplexPair.)
 *
 * @example
 * const [client, server] = createDuplexPair();
 */
export function createDuplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const inputEnded = [false, false];
  const endInputOf = (index: number): void => {
    const end = ends[index];
    if (!end || inputEnded[index] || end.destroyed) return;
    inputEnded[index] = true;
    end.push(null);
  };
  for (const index of [0, 1]) {
    const peer = 1 - index;
    ends.push(
      new Duplex({
        read() {},
        write(chunk: Buffer, _encoding, callback) {
          const target = ends[peer];
          if (target && !inputEnded[peer] && !target.destroyed) target.push(chunk);
          callback();
        },
        final(callback) {
          endInputOf(peer);
          callback();
        },
        destroy(error, callback) {
          endInputOf(peer);
          callback(error);
        },
      }),
    );
  }
  const [a, b] = ends;
  if (!a || !b) throw new Error('unreachable');
  return [a, b];
}
