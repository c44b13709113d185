// @ts-types="npm:@types/ssh2@^1.15.5"
import ssh2 from 'ssh2';
// @ts-types="npm:@types/ssh2@^1.15.5"
import type { Client, ClientChannel, ConnectConfig } from 'ssh2';
import { prepareHostKeyCheck } from './host-key-check.ts';
import { authHandlerFor, planAuthentication } from './ssh-auth.ts';
import type { SshSettings } from './ssh-settings.ts';
import { SshAuthError, SshConfigError, SshConnectError, TransportError, type SshConnectFailure } from './transport-errors.ts';

/** One live, authenticated ssh2 connection. */
export interface SshConnection {
  readonly client: Client;
  /** Aborted when the connection closes; its reason says why (an Error). */
  readonly closed: AbortSignal;
}

type Ssh2Error = Error & { level?: string; code?: string };

/**
 * Open and authenticate one SSH connection: host key checked against known_hosts
 * (the offered algorithms restricted to the known key types), then the agent and
 * identity files tried in order. Behind a jump host (ProxyJump) the connection
 * runs inside a direct-tcpip channel of the jump host's own connection, as
 * `ssh -J` does; closing it closes the jump. Rejects with a typed TransportError.
 *
 * @example
 * const { client } = await connectSsh(resolveSshSettings({ target: 'root@10.0.0.1' }));
 */
export async function connectSsh(settings: SshSettings): Promise<SshConnection> {
  if (settings.unsupported) throw new SshConfigError(settings.label, settings.unsupported);
  if (!settings.jump) return connectOne(settings, undefined);
  const jump = await connectSsh(settings.jump);
  try {
    const tunnel = await openTunnel(jump, settings);
    const connection = await connectOne(settings, tunnel);
    connection.closed.addEventListener('abort', () => jump.client.end(), { once: true });
    jump.closed.addEventListener('abort', () => connection.client.destroy(), { once: true });
    return connection;
  } catch (error) {
    jump.client.end();
    throw error;
  }
}

/** A direct-tcpip channel from the jump host to the next host's SSH port (`ssh -W host:port`). */
function openTunnel(jump: SshConnection, settings: SshSettings): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(new SshConnectError(settings.label, 'timeout', `${settings.jump?.label ?? 'the jump host'} did not open a channel to ${settings.host} port ${settings.port} within ${settings.connectTimeoutMs} ms`));
    }, settings.connectTimeoutMs);
    jump.client.forwardOut('127.0.0.1', 0, settings.host, settings.port, (error, channel) => {
      clearTimeout(timer);
      if (timedOut) channel?.close(); // opened after the caller gave up
      else if (error) reject(new SshConnectError(settings.label, 'unreachable', `cannot reach ${settings.host} port ${settings.port} through the jump host ${settings.jump?.label ?? ''}: ${error.message}`, { cause: error }));
      else resolve(channel);
    });
  });
}

/** One SSH handshake and authentication, over TCP or over a tunnel through a jump host. */
async function connectOne(settings: SshSettings, tunnel: ClientChannel | undefined): Promise<SshConnection> {
  const check = await prepareHostKeyCheck(settings);
  const plan = await planAuthentication(settings);
  const tried: string[] = [];
  const agentNotes: string[] = [];
  let refusal: TransportError | undefined;
  const client = new ssh2.Client();

  return new Promise<SshConnection>((resolve, reject) => {
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      client.destroy();
      reject(error);
    };
    const onError = (error: Ssh2Error): void => {
      if (error.level === 'agent') agentNotes.push(`ssh-agent at ${settings.agent}: ${error.message}`); // ssh2 goes on to the next method
      else if (refusal) fail(refusal);
      else if (error.level === 'client-authentication') fail(new SshAuthError(settings.label, settings.user, [...tried, ...agentNotes, ...plan.skipped.map((s) => `skipped ${s}`)]));
      else fail(connectError(settings, error, check.algorithms));
    };
    const onClose = (): void => fail(refusal ?? new SshConnectError(settings.label, 'other', `${settings.label} closed the connection during the SSH handshake`));
    client.on('error', onError).once('close', onClose);
    client.once('ready', () => {
      settled = true;
      // ferry's traffic is small requests and their answers (QMP, a guard's heartbeat): Nagle's
      // algorithm held them behind the server's delayed ACK, up to 40 ms each, inside a guest's pause.
      client.setNoDelay(true);
      client.off('error', onError).off('close', onClose);
      resolve(watchConnection(client, settings.label));
    });

    const config: ConnectConfig = {
      host: settings.host,
      port: settings.port,
      username: settings.user,
      readyTimeout: settings.connectTimeoutMs,
      keepaliveInterval: settings.keepaliveIntervalMs,
      keepaliveCountMax: settings.keepaliveCountMax,
      hostVerifier: (key: Buffer, verify: (valid: boolean) => void): void => {
        check.verify(key).then(
          () => verify(true),
          (error: unknown) => {
            refusal = error instanceof TransportError ? error : new SshConnectError(settings.label, 'other', `host key check failed: ${String(error)}`, { cause: error });
            verify(false);
          },
        );
      },
      authHandler: authHandlerFor(plan, tried),
    };
    if (check.algorithms) config.algorithms = { serverHostKey: check.algorithms };
    if (tunnel) config.sock = tunnel;
    client.connect(config);
  });
}

/** After `ready`: keep an error listener (ssh2 throws without one) and turn the close into an abort. */
function watchConnection(client: Client, label: string): SshConnection {
  const closed = new AbortController();
  let lastError: Error | undefined;
  client.on('error', (error: Error) => (lastError = error));
  client.once('close', () => closed.abort(lastError ?? new Error(`${label} closed the connection`)));
  return { client, closed: closed.signal };
}

const REASONS: Record<string, SshConnectFailure> = {
  ECONNREFUSED: 'refused',
  ETIMEDOUT: 'timeout',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_NONAME: 'dns',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
};

function connectError(settings: SshSettings, error: Ssh2Error, restrictedTo: string[] | undefined): SshConnectError {
  const where = `${settings.host} port ${settings.port}`;
  const byLevel: SshConnectFailure = error.level === 'client-timeout' ? 'timeout' : error.level === 'client-dns' ? 'dns' : 'other';
  const reason = (error.code && REASONS[error.code]) || byLevel;
  const messages: Record<SshConnectFailure, string> = {
    refused: `cannot connect to ${where}: connection refused (is sshd running and listening there?)`,
    timeout: `cannot connect to ${where}: no SSH session within ${settings.connectTimeoutMs} ms (${error.message})`,
    dns: `cannot resolve the host name "${settings.host}" (${error.message})`,
    unreachable: `cannot reach ${where}: ${error.message}`,
    other: /no matching host key/.test(error.message) && restrictedTo
      ? `${settings.label} offers none of the host key types known_hosts has for it (${restrictedTo.join(', ')}); if its keys were regenerated, check the new fingerprint and update known_hosts`
      : `SSH connection to ${where} failed: ${error.message}`,
  };
  return new SshConnectError(settings.label, reason, messages[reason], { cause: error });
}
