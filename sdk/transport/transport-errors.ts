import { FerryError } from '../ferry-error.ts';
import { quoteArgv } from './posix-quote.ts';

/** The base of every error about reaching a host or running something on it. */
export class TransportError extends FerryError {
  /** The transport's label: "root@10.0.0.1:22" or "local". */
  readonly host: string;

  constructor(code: string, host: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.host = host;
  }
}

export interface CommandOutcome {
  host: string;
  /** The argv given to `exec`, or undefined for `shell`. */
  argv?: readonly string[];
  /** The script given to `shell`, or undefined for `exec`. */
  script?: string;
  exitCode: number;
  signal: string | null;
  stdout: string;
  stderr: string;
}

const TAIL_CHARS = 4000;

/** A command ran and exited non-zero (or was killed by a signal). */
export class CommandFailedError extends TransportError {
  readonly argv: readonly string[] | undefined;
  readonly script: string | undefined;
  readonly exitCode: number;
  readonly signal: string | null;
  /** The last 4000 characters of stdout. */
  readonly stdout: string;
  /** The last 4000 characters of stderr. */
  readonly stderr: string;

  constructor(outcome: CommandOutcome, options?: { cause?: unknown }) {
    const how = outcome.signal ? `was killed by ${outcome.signal}` : `exited with status ${outcome.exitCode}`;
    const last = lastLine(outcome.stderr);
    super('COMMAND_FAILED', outcome.host, `${describeCommand(outcome)} on ${outcome.host} ${how}${last ? `: ${last}` : ''}`, options);
    this.argv = outcome.argv;
    this.script = outcome.script;
    this.exitCode = outcome.exitCode;
    this.signal = outcome.signal;
    this.stdout = outcome.stdout.slice(-TAIL_CHARS);
    this.stderr = outcome.stderr.slice(-TAIL_CHARS);
  }
}

/** A command ran longer than its `timeoutMs`; it was killed. */
export class CommandTimeoutError extends TransportError {
  readonly argv: readonly string[] | undefined;
  readonly script: string | undefined;
  readonly timeoutMs: number;

  constructor(command: { host: string; argv?: readonly string[]; script?: string }, timeoutMs: number) {
    super('COMMAND_TIMEOUT', command.host, `${describeCommand(command)} on ${command.host} did not finish within ${timeoutMs} ms and was killed`);
    this.argv = command.argv;
    this.script = command.script;
    this.timeoutMs = timeoutMs;
  }
}

export type SshConnectFailure = 'timeout' | 'refused' | 'unreachable' | 'dns' | 'other';

/** The TCP connection or the SSH handshake to a host failed. */
export class SshConnectError extends TransportError {
  readonly reason: SshConnectFailure;

  constructor(host: string, reason: SshConnectFailure, message: string, options?: { cause?: unknown }) {
    super('SSH_CONNECT_FAILED', host, message, options);
    this.reason = reason;
  }
}

/** No authentication method was accepted; `tried` lists each attempt and each skipped identity. */
export class SshAuthError extends TransportError {
  readonly user: string;
  readonly tried: readonly string[];

  constructor(host: string, user: string, tried: readonly string[], options?: { cause?: unknown }) {
    const list = tried.length > 0 ? tried.map((t) => `\n  - ${t}`).join('') : '\n  - nothing: no agent and no identity file';
    super('SSH_AUTH_FAILED', host, `SSH authentication as ${user} to ${host} failed; tried:${list}`, options);
    this.user = user;
    this.tried = tried;
  }
}

/** The host presented a key that no known_hosts file has for it (policy 'strict'). */
export class HostKeyUnknownError extends TransportError {
  readonly fingerprint: string;
  readonly keyType: string;

  constructor(host: string, details: { fingerprint: string; keyType: string; message: string }) {
    super('HOST_KEY_UNKNOWN', host, details.message);
    this.fingerprint = details.fingerprint;
    this.keyType = details.keyType;
  }
}

/** The host presented a key different from the one known_hosts has for it. */
export class HostKeyMismatchError extends TransportError {
  readonly fingerprint: string;
  readonly keyType: string;
  /** Where the key that no longer matches is written: "/root/.ssh/known_hosts:3". */
  readonly knownAt: string;

  constructor(host: string, details: { fingerprint: string; keyType: string; knownAt: string; message: string }) {
    super('HOST_KEY_MISMATCH', host, details.message);
    this.fingerprint = details.fingerprint;
    this.keyType = details.keyType;
    this.knownAt = details.knownAt;
  }
}

/** The host presented a key marked `@revoked` in a known_hosts file. */
export class HostKeyRevokedError extends TransportError {
  readonly fingerprint: string;
  readonly revokedAt: string;

  constructor(host: string, fingerprint: string, revokedAt: string) {
    super('HOST_KEY_REVOKED', host, `the host key ${fingerprint} presented by ${host} is marked @revoked at ${revokedAt}; refusing to connect`);
    this.fingerprint = fingerprint;
    this.revokedAt = revokedAt;
  }
}

/** The SSH connection dropped while this operation was using it; the command may or may not have run to completion. */
export class SshConnectionLostError extends TransportError {
  constructor(host: string, detail: string, options?: { cause?: unknown }) {
    super('SSH_CONNECTION_LOST', host, `the SSH connection to ${host} was lost ${detail}`, options);
  }
}

/** An OpenSSH client config file is malformed or asks for something ferry does not support. */
export class SshConfigError extends TransportError {
  /** "file:line" when the problem is on a line. */
  readonly location: string | undefined;

  constructor(host: string, message: string, location?: string) {
    super('SSH_CONFIG', host, location ? `${location}: ${message}` : message);
    this.location = location;
  }
}

/** A UNIX socket or TCP port could not be opened from the host. */
export class ChannelOpenError extends TransportError {
  /** The socket path or "host:port". */
  readonly target: string;

  constructor(host: string, target: string, detail: string, options?: { cause?: unknown }) {
    super('CHANNEL_OPEN_FAILED', host, `cannot open ${target} from ${host}: ${detail}`, options);
    this.target = target;
  }
}

/** The transport was closed with `close()`; create a new one to reach the host again. */
export class TransportClosedError extends TransportError {
  constructor(host: string) {
    super('TRANSPORT_CLOSED', host, `the transport to ${host} is closed`);
  }
}

function describeCommand(command: { argv?: readonly string[]; script?: string }): string {
  const text = command.argv ? quoteArgv(command.argv) : (command.script ?? '');
  const oneLine = text.replace(/\s*\n\s*/g, '; ');
  const shown = oneLine.length > 200 ? `${oneLine.slice(0, 197)}...` : oneLine;
  return command.argv ? `command \`${shown}\`` : `script \`${shown}\``;
}

function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.at(-1) ?? '';
}
