import { randomBytes } from 'node:crypto';
// @ts-types="npm:@types/ssh2@^1.15.5"
import type { ClientChannel } from 'ssh2';
import { stdinBytes, type ProcessEnd } from './command-run.ts';
import type { SshConnection } from './ssh-connection.ts';
import { SshConnectionLostError } from './transport-errors.ts';

/** What ssh2 gives when a channel could not be opened because the connection was already gone. */
export function neverOpened(error: unknown): boolean {
  const message = error instanceof Error ? error.message : '';
  return message === 'Not connected' || message === 'No response from server' || /server closed channel unexpectedly/.test(message);
}

/**
 * sshd refused a session channel, which for a session means too many are open
 * (MaxSessions): OpenSSH answers "open failed" with reason 2; others use 1 or 4.
 */
export function refusedForLimit(error: unknown): boolean {
  const reason = (error as { reason?: unknown } | undefined)?.reason;
  return reason === 1 || reason === 2 || reason === 4;
}

/** How an exec channel's command ended, recorded from the moment the channel exists. */
export interface ExitRecord {
  exit: { code: number | null; signal: string | null } | undefined;
}

/**
 * Start listening for the exit status at once, inside ssh2's open callback: ssh2
 * emits 'exit' as a plain event, so a listener added a microtask later can miss it.
 */
export function recordExit(channel: ClientChannel): ExitRecord {
  const record: ExitRecord = { exit: undefined };
  channel.on('exit', (code: number | null, signal?: string) => (record.exit = { code, signal: signal ?? null }));
  return record;
}

/**
 * The remote command line for `command`, prefixed so that the login shell first
 * reports its pid on stderr (one tagged line, removed from the output again).
 * sshd makes that shell a process group leader, so the pid lets an abort kill
 * the whole command tree: sshd refuses SSH 'signal' requests for root sessions
 * (they run without privilege separation), and closing a channel kills nothing.
 */
export function withPidReport(command: string): { line: string; tag: string } {
  const tag = `ferry-pid-${randomBytes(6).toString('hex')}`;
  return { line: `printf '${tag} %s\\n' "$$" >&2 && ${command}`, tag };
}

/** A command running on an exec channel. */
export class RemoteProcess {
  /** Settles when the channel closes; see `channelEnd` rules in the constructor. */
  readonly ended: Promise<ProcessEnd>;
  readonly #channel: ClientChannel;
  readonly #killer: (pid: number) => Promise<void>;
  #pid: number | undefined;
  #killWanted = false;
  #giveUp: ReturnType<typeof setTimeout> | undefined;

  /**
   * Collect output until the channel closes. A channel closed by a dropped connection
   * before an exit status arrived rejects with SshConnectionLostError; one closed
   * without a status otherwise reports 255, as ssh(1) does.
   */
  constructor(channel: ClientChannel, record: ExitRecord, connection: SshConnection, options: { label: string; what: string; tag: string; stdin: string | Uint8Array | undefined; killer: (pid: number) => Promise<void> }) {
    this.#channel = channel;
    this.#killer = options.killer;
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let head = '';
    const pidLine = new RegExp(`(?:^|\\n)${options.tag} (\\d+)\\n`);
    channel.on('data', (chunk: Buffer) => stdout.push(chunk));
    channel.stderr.on('data', (chunk: Buffer) => {
      stderr.push(chunk);
      if (this.#pid !== undefined || head.length > 65_536) return;
      head += chunk.toString('latin1');
      const pid = pidLine.exec(head)?.[1];
      if (pid !== undefined) this.#gotPid(Number(pid));
    });
    channel.on('error', () => {}); // reported through 'close' and the connection state
    channel.end(options.stdin === undefined ? undefined : stdinBytes(options.stdin)); // EOF, so nothing waits for input
    this.ended = new Promise<ProcessEnd>((resolve, reject) => {
      channel.once('close', () => {
        clearTimeout(this.#giveUp);
        const text = (chunks: Buffer[]): string => Buffer.concat(chunks).toString('utf8');
        const { exit } = record;
        if (!exit && connection.closed.aborted) {
          const cause: unknown = connection.closed.reason;
          reject(new SshConnectionLostError(options.label, `while ${options.what} was running; it may have finished, failed or still be running there`, { cause }));
        } else {
          const errors = text(stderr).replace(pidLine, (line) => (line.startsWith('\n') ? '\n' : ''));
          resolve({ stdout: text(stdout), stderr: errors, exitCode: exit ? exit.code : 255, signal: exit?.signal ?? null });
        }
      });
    });
  }

  /** Kill the remote process group (once its pid is known), then close the channel. */
  kill(): void {
    if (this.#killWanted) return;
    this.#killWanted = true;
    if (this.#pid !== undefined) this.#killNow(this.#pid);
    else this.#giveUp = setTimeout(() => this.#channel.close(), 10_000); // the pid never came: stop waiting for it
  }

  #gotPid(pid: number): void {
    this.#pid = pid;
    if (this.#killWanted) this.#killNow(pid);
  }

  #killNow(pid: number): void {
    this.#killer(pid).finally(() => this.#channel.close());
  }
}

/** A shell command that sends SIGTERM to a process group (or the process, if it leads none). */
export function killCommand(pid: number): string {
  return `kill -TERM -- -${pid} 2>/dev/null || kill -TERM ${pid} 2>/dev/null; true`;
}
