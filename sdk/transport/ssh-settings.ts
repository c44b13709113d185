import { readFileSync } from 'node:fs';
import { homedir, hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { findOpenSsh, openSshConfigValues } from './openssh-config.ts';
import { parseProxyJump } from './proxy-jump.ts';
import { expandConfigPath, resolveSshConfig, type ConfigTokens, type SshConfigValues } from './ssh-config.ts';
import { SshConfigError } from './transport-errors.ts';

export type HostKeyPolicy = 'strict' | 'accept-new' | 'insecure-accept-any';

/**
 * How to reach one host over SSH. Each setting is taken from, in order:
 * the explicit option here, then the user/port written in `target`, then the
 * OpenSSH config file (first matching value wins, as in OpenSSH), then ferry's default.
 */
export interface SshTransportOptions {
  /** "user@host:port", "host", "[::1]:2222", or a ~/.ssh/config alias. */
  target: string;
  /** The OpenSSH client config to read; default ~/.ssh/config then /etc/ssh/ssh_config; false reads none. */
  configFile?: string | false;
  /**
   * Who reads the config: 'openssh' asks `ssh -G` (exact OpenSSH semantics:
   * Match, canonicalization, …), 'ferry' uses ferry's own reader (which names
   * what it does not apply). Default 'auto': OpenSSH's when `ssh` is installed.
   */
  configResolver?: 'auto' | 'openssh' | 'ferry';
  /** The known_hosts files to use, exactly (the first one receives accept-new keys). Default: config UserKnownHostsFile, else ~/.ssh/known_hosts and known_hosts2 plus /etc/ssh/ssh_known_hosts{,2} read-only. */
  knownHostsFiles?: string[];
  /** Private keys to try (after the agent), before any IdentityFile from the config. */
  identityFiles?: string[];
  /** ssh-agent socket; false for no agent. Default: config IdentityAgent, else SSH_AUTH_SOCK. */
  agent?: string | false;
  /** Default: from config StrictHostKeyChecking (yes/ask: strict; accept-new and no: accept-new), else 'strict'. Never insecure unless asked here. */
  hostKeyPolicy?: HostKeyPolicy;
  /** TCP connect + handshake + authentication. Default: config ConnectTimeout, else 10 000. */
  connectTimeoutMs?: number;
  /** Default: config ServerAliveInterval, else 15 000; 0 disables. Three unanswered (ServerAliveCountMax) drop the connection. */
  keepaliveIntervalMs?: number;
  user?: string;
  port?: number;
  /** Exec channels open at once on the one connection (sshd's MaxSessions defaults to 10). Default 8; more wait their turn. */
  maxSessions?: number;
}

/** Everything resolved: what SshTransport connects with. */
export interface SshSettings {
  /** The target as given. */
  target: string;
  /** The address to connect to (HostName applied). */
  host: string;
  port: number;
  user: string;
  /** "user@host:port" */
  label: string;
  /** The name looked up in known_hosts (HostKeyAlias, else host). */
  hostKeyName: string;
  /** Files read for host keys. */
  knownHostsFiles: string[];
  /** Where accept-new writes, or undefined when there is no user file. */
  knownHostsWriteFile: string | undefined;
  hostKeyPolicy: HostKeyPolicy;
  identityFiles: { path: string; explicit: boolean }[];
  identitiesOnly: boolean;
  agent: string | undefined;
  connectTimeoutMs: number;
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
  maxSessions: number;
  /** The host this one is reached through (ProxyJump), itself maybe behind another. */
  jump: SshSettings | undefined;
  /** Who read the config: OpenSSH's `ssh -G`, or ferry's own reader. */
  resolvedBy: 'openssh' | 'ferry';
  /** Why ferry cannot connect as configured (ProxyCommand), if so. */
  unsupported: string | undefined;
  notes: string[];
}

/** The local facts settings depend on; tests pass their own. */
export interface SshEnvironment {
  home: string;
  localUser: string;
  authSock: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
  /** OpenSSH's `ssh` client, used to resolve configs (`ssh -G`) unless a transport asks for ferry's reader. */
  openSsh?: string;
}

export function currentEnvironment(): SshEnvironment {
  const openSsh = findOpenSsh(process.env);
  return { home: homedir(), localUser: localUserName(), authSock: process.env['SSH_AUTH_SOCK'], env: process.env, ...(openSsh !== undefined && { openSsh }) };
}

/**
 * The local user's name, as OpenSSH's getpwuid() gives it. Bun's userInfo() reads
 * $USER and answers "unknown" without it, so then /etc/passwd is asked.
 *
 * @example
 * localUserName() // => 'root'
 */
export function localUserName(): string {
  const info = userInfo();
  if (info.username !== 'unknown') return info.username;
  const passwd = (() => {
    try {
      return readFileSync('/etc/passwd', 'utf8');
    } catch {
      return '';
    }
  })();
  const entry = passwd.split('\n').find((line) => line.split(':')[2] === String(info.uid));
  return entry?.split(':')[0] ?? info.username;
}

/**
 * Resolve options, target and config file into the settings for one host.
 *
 * @example
 * resolveSshSettings({ target: 'root@10.0.0.1' }).label // => 'root@10.0.0.1:22'
 */
export function resolveSshSettings(options: SshTransportOptions, environment: SshEnvironment = currentEnvironment()): SshSettings {
  return resolveHop(options, environment, 'as-configured', 0);
}

/** How many hosts a connection may pass through (a ProxyJump loop ends here). */
const MAX_JUMPS = 8;

/**
 * One host's settings. `via` is the host before it when it is a later hop of a
 * ProxyJump list (OpenSSH then ignores its own ProxyJump), else its config decides.
 */
function resolveHop(options: SshTransportOptions, environment: SshEnvironment, via: SshSettings | undefined | 'as-configured', depth: number): SshSettings {
  const { home } = environment;
  const given = parseTarget(options.target);
  const sshDir = join(home, '.ssh');
  const resolver = options.configResolver ?? 'auto';
  if (resolver === 'openssh' && environment.openSsh === undefined) throw new SshConfigError(options.target, 'configResolver is "openssh" but no ssh client was found on PATH');
  const openSsh = resolver === 'ferry' ? undefined : environment.openSsh;
  const fromOpenSsh = openSsh === undefined ? undefined : openSshConfigValues({ ssh: openSsh, host: given.host, configFile: options.configFile, user: options.user ?? given.user, port: options.port ?? given.port });
  if (openSsh !== undefined && fromOpenSsh === undefined && resolver === 'openssh') throw new SshConfigError(options.target, `configResolver is "openssh" but ${openSsh} cannot be run here`);
  const config: SshConfigValues = fromOpenSsh ?? ferryConfigValues(given.host, options.configFile, sshDir, home);
  const notes = [...config.notes];
  if (openSsh !== undefined && fromOpenSsh === undefined) notes.push(`${openSsh} cannot be run here (Deno without --allow-run?): ferry's own config reader was used`);

  const user = options.user ?? given.user ?? config.user ?? environment.localUser;
  const port = options.port ?? given.port ?? config.port ?? 22;
  const local = { localUser: environment.localUser, home, localHostName: hostname(), env: environment.env, ...(process.getuid && { uid: process.getuid() }) };
  const hostTokens: ConfigTokens = { ...local, host: given.host, originalHost: given.host, remoteUser: user, port };
  const host = config.hostName ? expandConfigPath(config.hostName, hostTokens, 'HostName') : given.host;
  const tokens: ConfigTokens = { ...hostTokens, host, hostKeyAlias: config.hostKeyAlias ?? host };
  const expand = (path: string): string => expandConfigPath(path, tokens);

  const userFiles = options.knownHostsFiles ?? config.userKnownHostsFiles?.map(expand) ?? [join(sshDir, 'known_hosts'), join(sshDir, 'known_hosts2')];
  const globalFiles = options.knownHostsFiles ? [] : (config.globalKnownHostsFiles?.map(expand) ?? ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']);

  const named = [...(options.identityFiles ?? []), ...config.identityFiles].map((path) => ({ path: expand(path), explicit: true }));
  const defaults = ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((name) => ({ path: join(sshDir, name), explicit: false }));

  if (config.strictHostKeyChecking === 'no') notes.push('StrictHostKeyChecking no is treated as accept-new: a changed host key is still refused');
  return {
    target: options.target,
    host,
    port,
    user,
    label: `${user}@${host.includes(':') ? `[${host}]` : host}:${port}`,
    hostKeyName: config.hostKeyAlias ?? host,
    knownHostsFiles: [...userFiles, ...globalFiles],
    knownHostsWriteFile: userFiles[0],
    hostKeyPolicy: options.hostKeyPolicy ?? policyFromConfig(config.strictHostKeyChecking),
    identityFiles: named.length > 0 ? named : defaults,
    identitiesOnly: config.identitiesOnly ?? false,
    agent: resolveAgent(options.agent, config.identityAgent, environment, expand),
    connectTimeoutMs: options.connectTimeoutMs ?? (config.connectTimeoutSeconds ? config.connectTimeoutSeconds * 1000 : 10_000),
    keepaliveIntervalMs: options.keepaliveIntervalMs ?? (config.serverAliveIntervalSeconds !== undefined ? config.serverAliveIntervalSeconds * 1000 : 15_000),
    keepaliveCountMax: config.serverAliveCountMax ?? 3,
    maxSessions: Math.max(1, options.maxSessions ?? 8),
    jump: via === 'as-configured' ? jumpsFor(options, config.proxyJump, environment, depth) : via,
    resolvedBy: fromOpenSsh !== undefined ? 'openssh' : 'ferry',
    unsupported: unsupportedProxy(config.proxyCommand),
    notes,
  };
}

function ferryConfigValues(host: string, configFile: string | false | undefined, sshDir: string, home: string): SshConfigValues {
  if (configFile === false) return { identityFiles: [], notes: [] };
  // Like OpenSSH: the user's file, then the system-wide one, unless a file is named (ssh -F).
  const systemFile = configFile === undefined ? '/etc/ssh/ssh_config' : undefined;
  return resolveSshConfig(host, { file: configFile ?? join(sshDir, 'config'), includeDir: sshDir, home, ...(systemFile !== undefined && { systemFile }) });
}

/**
 * The chain of jump hosts, as OpenSSH builds it: the first hop is reached as its
 * own config says (it may have a ProxyJump of its own); each later hop through
 * the one before it. Each hop reads the same config file, as `ssh -J` does.
 */
function jumpsFor(options: SshTransportOptions, proxyJump: string | undefined, environment: SshEnvironment, depth: number): SshSettings | undefined {
  const hops = proxyJump === undefined ? [] : parseProxyJump(proxyJump);
  let previous: SshSettings | undefined;
  for (const [index, target] of hops.entries()) {
    if (depth + index + 1 > MAX_JUMPS) throw new SshConfigError(options.target, `ProxyJump goes through more than ${MAX_JUMPS} hosts (a loop?): ${proxyJump}`);
    const hop: SshTransportOptions = { target, ...(options.configFile !== undefined && { configFile: options.configFile }), ...(options.configResolver !== undefined && { configResolver: options.configResolver }) };
    previous = resolveHop(hop, environment, index === 0 ? 'as-configured' : previous, depth + index + 1);
  }
  return previous;
}

/**
 * Split "user@host:port", "host", "[v6]:port" or a bare IPv6 address.
 *
 * @example
 * parseTarget('root@10.0.0.1:2222') // => { user: 'root', host: '10.0.0.1', port: 2222 }
 */
export function parseTarget(target: string): { user?: string; host: string; port?: number } {
  const at = target.lastIndexOf('@');
  const user = at > 0 ? target.slice(0, at) : undefined;
  const rest = at >= 0 ? target.slice(at + 1) : target;
  const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest) ?? /^([^:]+):(\d+)$/.exec(rest);
  const host = match?.[1] ?? rest;
  const port = match?.[2] !== undefined ? Number(match[2]) : undefined;
  if (host === '' || (port !== undefined && (port < 1 || port > 65535))) throw new SshConfigError(target, `cannot read SSH target "${target}" (expected user@host:port, host, or a config alias)`);
  return { ...(user !== undefined && { user }), host, ...(port !== undefined && { port }) };
}

function policyFromConfig(value: 'yes' | 'no' | 'accept-new' | 'ask' | undefined): HostKeyPolicy {
  return value === 'accept-new' || value === 'no' ? 'accept-new' : 'strict';
}

function resolveAgent(option: string | false | undefined, configured: string | undefined, environment: SshEnvironment, expand: (path: string) => string): string | undefined {
  if (option === false) return undefined;
  if (option !== undefined) return option;
  if (configured === undefined || configured === 'SSH_AUTH_SOCK') return environment.authSock || undefined;
  if (configured === 'none') return undefined;
  if (configured.startsWith('$')) return environment.env[configured.slice(1)] || undefined;
  return expand(configured);
}

function unsupportedProxy(proxyCommand: string | undefined): string | undefined {
  if (proxyCommand !== undefined && proxyCommand !== 'none') return `ProxyCommand is set for this host, but ferry does not run local commands to connect; use ProxyJump (which ferry supports) or a host that is reachable directly`;
  return undefined;
}
