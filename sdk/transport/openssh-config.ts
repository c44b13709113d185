import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { SshConfigValues } from './ssh-config.ts';
import { SshConfigError } from './transport-errors.ts';

/**
 * The `ssh` client on PATH, if any: where it is installed, ferry asks it how
 * to reach each host (`ssh -G`), so Match, Include, canonicalization, tokens
 * and the system-wide config mean exactly what they mean to OpenSSH.
 *
 * @example
 * findOpenSsh(process.env) // => '/usr/bin/ssh'
 */
export function findOpenSsh(env: Readonly<Record<string, string | undefined>>): string | undefined {
  for (const dir of (env['PATH'] ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'ssh');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface OpenSshQuery {
  /** The ssh client to run. */
  ssh: string;
  /** The host as the user wrote it (maybe an alias). */
  host: string;
  /** `-F`: a config file, or false for none (`-F none`); default: ~/.ssh/config and /etc/ssh/ssh_config. */
  configFile?: string | false;
  /** `-l` and `-p`, when the target or the caller names them: they take part in Match and in tokens. */
  user?: string;
  port?: number;
}

/** What OpenSSH prints for IdentityFile when none is configured: ferry then uses its own defaults. */
const OPENSSH_DEFAULT_IDENTITIES = ['~/.ssh/id_rsa', '~/.ssh/id_ecdsa', '~/.ssh/id_ecdsa_sk', '~/.ssh/id_ed25519', '~/.ssh/id_ed25519_sk', '~/.ssh/id_xmss', '~/.ssh/id_dsa'];

/**
 * The settings OpenSSH's own client resolves for a host (`ssh -G`), in the
 * shape ferry's config reader gives. ssh -G prints every setting, defaults
 * included; a default that cannot be told from a value (ServerAliveInterval
 * 0, the default identity files) is left for ferry's own default.
 * Undefined when ssh cannot be run here at all (gone from PATH, or a Deno
 * without --allow-run): then ferry's own reader is the answer.
 *
 * @example
 * const values = openSshConfigValues({ ssh: '/usr/bin/ssh', host: 'web', configFile: '/root/.ssh/config' });
 */
export function openSshConfigValues(query: OpenSshQuery): SshConfigValues | undefined {
  const answer = askOpenSsh(query);
  if (answer === undefined) return undefined;
  const one = (keyword: string): string | undefined => answer.get(keyword)?.[0];
  const list = (keyword: string): string[] | undefined => {
    const value = one(keyword);
    return value === undefined ? undefined : value === 'none' ? [] : value.split(/\s+/);
  };
  const seconds = (keyword: string): number | undefined => {
    const value = one(keyword);
    return value === undefined || value === 'none' || !/^\d+$/.test(value) ? undefined : Number(value);
  };
  const identities = answer.get('identityfile') ?? [];
  const defaults = identities.length === OPENSSH_DEFAULT_IDENTITIES.length && identities.every((file, i) => file === OPENSSH_DEFAULT_IDENTITIES[i]);
  const values: SshConfigValues = { identityFiles: defaults ? [] : identities, notes: [] };
  const set = <K extends keyof SshConfigValues>(key: K, value: SshConfigValues[K] | undefined): void => {
    if (value !== undefined) values[key] = value;
  };
  set('hostName', one('hostname'));
  set('user', one('user'));
  set('port', seconds('port'));
  set('identitiesOnly', one('identitiesonly') === undefined ? undefined : one('identitiesonly') === 'yes');
  set('userKnownHostsFiles', list('userknownhostsfile'));
  set('globalKnownHostsFiles', list('globalknownhostsfile'));
  set('strictHostKeyChecking', strictness(one('stricthostkeychecking')));
  set('connectTimeoutSeconds', seconds('connecttimeout'));
  const interval = seconds('serveraliveinterval');
  set('serverAliveIntervalSeconds', interval === 0 ? undefined : interval);
  set('serverAliveCountMax', seconds('serveralivecountmax'));
  set('identityAgent', one('identityagent'));
  set('hostKeyAlias', one('hostkeyalias'));
  set('proxyJump', one('proxyjump'));
  set('proxyCommand', one('proxycommand'));
  return values;
}

/** `ssh -G` for one host: keyword (lower case) → its lines' values in order; undefined when ssh cannot be run. */
function askOpenSsh({ ssh, host, configFile, user, port }: OpenSshQuery): Map<string, string[]> | undefined {
  const args = ['-G'];
  if (configFile !== undefined) args.push('-F', configFile === false ? 'none' : configFile);
  if (user !== undefined) args.push('-l', user);
  if (port !== undefined) args.push('-p', String(port));
  args.push('--', host);
  let output: string;
  try {
    output = execFileSync(ssh, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (error) {
    if (cannotRun(error)) return undefined;
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim().split('\n').filter((line) => !line.startsWith('Pseudo-terminal')).join('; ');
    throw new SshConfigError(host, `\`ssh -G\` could not resolve this host: ${stderr || (error as Error).message}`, configFile || 'ssh -G');
  }
  const answer = new Map<string, string[]>();
  for (const line of output.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const keyword = line.slice(0, space).toLowerCase();
    answer.set(keyword, [...(answer.get(keyword) ?? []), line.slice(space + 1)]);
  }
  return answer;
}

/**
 * ssh is missing, or this runtime may not start processes: not a config
 * problem. Deno without --allow-run throws NotCapable, or a bare "Command
 * failed" with neither exit status nor signal; ssh that ran always has one.
 */
function cannotRun(error: unknown): boolean {
  const { code, name, status, signal } = error as { code?: unknown; name?: unknown; status?: unknown; signal?: unknown };
  if (code === 'ENOENT' || code === 'EACCES' || name === 'NotCapable' || name === 'PermissionDenied') return true;
  return typeof status !== 'number' && (signal === undefined || signal === null);
}

function strictness(value: string | undefined): SshConfigValues['strictHostKeyChecking'] {
  if (value === undefined) return undefined;
  if (value === 'true' || value === 'yes') return 'yes';
  if (value === 'false' || value === 'no') return 'no';
  return value === 'accept-new' ? 'accept-new' : 'ask';
}
