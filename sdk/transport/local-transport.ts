import { spawn, type ChildProcess } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { throwIfAborted } from '../ferry-error.ts';
import { awaitCommand, stdinBytes, type CommandSpec, type ProcessEnd } from './command-run.ts';
import type { CommandResult, ExecOptions, HostTransport, ProcessStream } from './host-transport.ts';
import { ChannelOpenError, TransportClosedError } from './transport-errors.ts';

/** How long a killed command gets between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 2000;

/**
 * The machine ferry runs on. Commands are spawned without a shell (argv as is);
 * each runs in its own process group so that abort and timeout kill it and its children.
 *
 * @example
 * const local = new LocalTransport();
 * const { stdout } = await local.exec(['uname', '-r']);
 */
export class LocalTransport implements HostTransport {
  readonly kind = 'local';
  readonly label = 'local';
  readonly #closing = new AbortController();

  constructor() {
    setMaxListeners(0, this.#closing.signal); // every running command listens for close()
  }

  exec(argv: readonly string[], options: ExecOptions = {}): Promise<CommandResult> {
    const [file, ...args] = argv;
    if (file === undefined) return Promise.reject(new TypeError('exec needs at least one argument (the program)'));
    return this.#run({ host: this.label, argv }, file, args, options);
  }

  shell(script: string, options: ExecOptions = {}): Promise<CommandResult> {
    return this.#run({ host: this.label, script }, '/bin/sh', ['-c', script], options);
  }

  openUnixSocket(path: string, options: { signal?: AbortSignal } = {}): Promise<Duplex> {
    return this.#connect(path, () => connect({ path }), options.signal);
  }

  openTcp(host: string, port: number, options: { signal?: AbortSignal } = {}): Promise<Duplex> {
    return this.#connect(`${host}:${port}`, () => connect({ host, port }), options.signal);
  }

  async openProcess(argv: readonly string[], options: { signal?: AbortSignal } = {}): Promise<ProcessStream> {
    const [file, ...args] = argv;
    if (file === undefined) throw new TypeError('openProcess needs at least one argument (the program)');
    this.#throwIfClosed();
    throwIfAborted(options.signal);
    // Its own process group: a terminal's Ctrl-C reaches ferry, not the process that must outlive it.
    const child = spawn(file, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const ended = new Promise<number | null>((resolve) => {
      child.once('close', (code) => resolve(code));
      child.once('error', () => resolve(null));
    });
    const stdin = child.stdin;
    const stdout = child.stdout;
    const stderr = child.stderr;
    if (!stdin || !stdout || !stderr) throw new ChannelOpenError(this.label, file, 'no pipes to the process');
    stdin.on('error', () => {}); // EPIPE once it has exited
    return { stdio: Duplex.from({ readable: stdout, writable: stdin }), stderr, ended };
  }

  async close(): Promise<void> {
    this.#closing.abort(new TransportClosedError(this.label));
  }

  async #run(spec: CommandSpec, file: string, args: string[], options: ExecOptions): Promise<CommandResult> {
    this.#throwIfClosed();
    throwIfAborted(options.signal);
    const child = spawn(file, args, {
      detached: true, // its own process group, so a kill reaches its children too
      stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (options.stdin !== undefined && child.stdin) {
      child.stdin.on('error', () => {}); // EPIPE when the command does not read its input
      child.stdin.end(stdinBytes(options.stdin));
    }
    let finished = false;
    const ended = waitForExit(child, file).finally(() => (finished = true));
    return awaitCommand(spec, options, ended, () => finished || killGroup(child), this.#closing.signal);
  }

  async #connect(target: string, open: () => Socket, signal: AbortSignal | undefined): Promise<Duplex> {
    this.#throwIfClosed();
    throwIfAborted(signal);
    const socket = open();
    return new Promise<Duplex>((resolve, reject) => {
      const done = (): void => {
        socket.off('connect', onConnect).off('error', onError);
        signal?.removeEventListener('abort', onAbort);
      };
      const onConnect = (): void => {
        done();
        resolve(socket);
      };
      const onError = (error: Error): void => {
        done();
        reject(new ChannelOpenError(this.label, target, error.message, { cause: error }));
      };
      const onAbort = (): void => {
        done();
        socket.destroy();
        try {
          throwIfAborted(signal);
        } catch (error) {
          reject(error);
        }
      };
      socket.once('connect', onConnect).once('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #throwIfClosed(): void {
    if (this.#closing.signal.aborted) throw new TransportClosedError(this.label);
  }
}

function waitForExit(child: ChildProcess, file: string): Promise<ProcessEnd> {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  const text = (chunks: Buffer[]): string => Buffer.concat(chunks).toString('utf8');
  return new Promise<ProcessEnd>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return; // a failed kill, not a failed start
      // Report a command that cannot start as a shell would: 127 not found, 126 not executable.
      const exitCode = error.code === 'ENOENT' ? 127 : 126;
      resolve({ stdout: '', stderr: `ferry: cannot run ${file}: ${error.message}\n`, exitCode, signal: null });
    });
    child.once('close', (code, signal) => resolve({ stdout: text(stdout), stderr: text(stderr), exitCode: code, signal }));
  });
}

/** SIGTERM to the command's process group, SIGKILL if it is still there after a grace period. */
function killGroup(child: ChildProcess): void {
  const send = (signal: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      child.kill(signal); // the group is gone or cannot be signalled: the child alone
    }
  };
  send('SIGTERM');
  const escalate = setTimeout(() => send('SIGKILL'), KILL_GRACE_MS);
  escalate.unref();
  child.once('close', () => clearTimeout(escalate));
}
