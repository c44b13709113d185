import type { Duplex, Readable } from 'node:stream';

/** What a finished command left behind. Success and failure have the same shape. */
export interface CommandResult {
  stdout: string;
  stderr: string;
  /** The exit status; 128 + the signal number when a signal ended it (as shells report it). */
  exitCode: number;
  /** The signal that ended the command (`'SIGTERM'`), or null when it exited by itself. */
  signal?: string | null;
}

export interface ExecOptions {
  signal?: AbortSignal;
  stdin?: string | Uint8Array;
  timeoutMs?: number;
  /** resolve instead of throwing on non-zero exit */
  allowFailure?: boolean;
}

/**
 * A long-lived process on a host whose stdin and stdout are one stream (ferry's
 * guard). Ending `stdio` only closes the process's stdin: ferry never kills it,
 * because it must outlive ferry.
 */
export interface ProcessStream {
  /** Writes go to the process's stdin; reads come from its stdout. */
  readonly stdio: Duplex;
  readonly stderr: Readable;
  /** Settles when the process's channel is gone: its exit code, or null when none came (a dropped connection). */
  readonly ended: Promise<number | null>;
}

/**
 * How bytes reach one host: run commands there and open streams from there.
 * Everything above `sdk/transport` talks to hosts only through this.
 */
export interface HostTransport {
  readonly kind: 'ssh' | 'local';
  /** For messages, e.g. "root@10.0.0.1:22" or "local". */
  readonly label: string;
  /**
   * Run argv; over SSH each argument is POSIX single-quoted for the remote /bin/sh.
   * Non-zero exit => CommandFailedError unless allowFailure.
   *
   * @example
   * const { stdout } = await host.exec(['virsh', 'list', '--name']);
   */
  exec(argv: readonly string[], options?: ExecOptions): Promise<CommandResult>;
  /**
   * Run a shell script that the caller built with quoting (see the `sh` template).
   *
   * @example
   * await host.shell(sh`test -S ${socketPath} && echo yes`, { allowFailure: true });
   */
  shell(script: string, options?: ExecOptions): Promise<CommandResult>;
  /**
   * A duplex byte stream to a UNIX socket on that host (SSH: a direct-streamlocal channel; local: net.connect).
   *
   * @example
   * const qmp = await host.openUnixSocket('/run/ferry/vm1.qmp');
   */
  openUnixSocket(path: string, options?: { signal?: AbortSignal }): Promise<Duplex>;
  /**
   * A duplex stream to host:port as seen FROM that host (SSH: direct-tcpip; local: net.connect).
   *
   * @example
   * const monitor = await host.openTcp('127.0.0.1', 4444);
   */
  openTcp(host: string, port: number, options?: { signal?: AbortSignal }): Promise<Duplex>;
  /**
   * Starts argv with its stdin and stdout as a stream (over SSH, its own session channel;
   * locally, its own process group so that a terminal's Ctrl-C does not reach it).
   *
   * @example
   * const guard = await host.openProcess(['perl', '-e', script]);
   * guard.stdio.write('#hb\n');
   */
  openProcess(argv: readonly string[], options?: { signal?: AbortSignal }): Promise<ProcessStream>;
  /** Ends the connection; later calls fail with TransportClosedError. */
  close(): Promise<void>;
}
