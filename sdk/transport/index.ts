/**
 * How bytes reach a host: run commands there and open streams from there,
 * locally or over one shared SSH connection per host.
 */
import type { HostTransport } from './host-transport.ts';
import { LocalTransport } from './local-transport.ts';
import type { SshTransportOptions } from './ssh-settings.ts';
import { SshTransport } from './ssh-transport.ts';

export type { CommandResult, ExecOptions, HostTransport, ProcessStream } from './host-transport.ts';
export type { HostKeyPolicy, SshSettings, SshTransportOptions } from './ssh-settings.ts';
export type { SshConfigValues } from './ssh-config.ts';
export type { KnownHostEntry, KnownHostKeys } from './known-hosts.ts';
export type { ShellValue } from './posix-quote.ts';
export { quote, quoteArgv, sh } from './posix-quote.ts';
export { LocalTransport } from './local-transport.ts';
export { SshTransport } from './ssh-transport.ts';
export { resolveSshSettings, parseTarget } from './ssh-settings.ts';
export { resolveSshConfig, parseSshConfig } from './ssh-config.ts';
export { appendKnownHost, findHostKeys, fingerprintOf, knownHostName, parseKnownHosts, readKnownHosts } from './known-hosts.ts';
export {
  ChannelOpenError,
  CommandFailedError,
  CommandTimeoutError,
  HostKeyMismatchError,
  HostKeyRevokedError,
  HostKeyUnknownError,
  SshAuthError,
  SshConfigError,
  SshConnectError,
  SshConnectionLostError,
  TransportClosedError,
  TransportError,
} from './transport-errors.ts';
export type { SshConnectFailure } from './transport-errors.ts';

/**
 * A transport for 'local' or for an SSH target.
 *
 * @example
 * const here = createTransport('local');
 * const there = createTransport({ target: 'root@10.0.0.2', hostKeyPolicy: 'accept-new' });
 */
export function createTransport(spec: 'local' | SshTransportOptions): HostTransport {
  return spec === 'local' ? new LocalTransport() : new SshTransport(spec);
}
